"""The token verbs: create, list and revoke the API's tokens."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from service.cli.common import _open, _say
from service.tokens import TokenError, Tokens, refusal


def _tokens(
    args: argparse.Namespace, act: Callable[[Tokens], int], *, existing: bool = True
) -> int:
    timeline = _open(args, existing=existing)
    try:
        return act(Tokens(timeline.store))
    except TokenError as error:
        _say(f"error: {error}")
        return 1
    finally:
        timeline.close()


def cmd_tokens_create(args: argparse.Namespace) -> int:
    """Print a new token, alone on standard output, so `TOKEN=$(timeline tokens create …)` works."""

    why = refusal(args.name)
    if why is not None:  # refused before the database is opened (or made)
        _say(f"error: {why}")
        return 1

    def create(tokens: Tokens) -> int:
        secret = tokens.create(args.name, args.role)
        try:  # after the commit: no lock is held while standard output may block
            sys.stdout.write(secret + "\n")
            sys.stdout.flush()
        except BaseException as error:  # shown to no one (Ctrl-C too): withdrawn, name free
            tokens.withdraw(args.name, secret)
            if not isinstance(error, OSError):
                raise
            _say(f"error: cannot write the token to standard output ({error}); none was kept")
            return 74
        _say(f"token {args.name!r} ({args.role}) created; it is shown once and stored as a hash")
        return 0

    return _tokens(args, create, existing=False)


def cmd_tokens_list(args: argparse.Namespace) -> int:
    """List tokens: name, role, created, revoked."""

    def show(tokens: Tokens) -> int:
        for token in tokens.list():
            revoked = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "live"
            print(f"{token.name}\t{token.role}\t{token.created_at:%Y-%m-%d %H:%M}\t{revoked}")
            why = None if token.revoked_at else refusal(token.name)
            if why is not None:  # made by an earlier version, before the name was refused
                _say(
                    f"warning: token {token.name!r} has a name no token may take now ({why}): "
                    "what it records is hard to tell from another principal's; revoke it and "
                    "make another"
                )
        return 0

    return _tokens(args, show)


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    """Revoke a token by name."""

    def revoke(tokens: Tokens) -> int:
        tokens.revoke(args.name)
        _say(f"token {args.name!r} revoked")
        return 0

    return _tokens(args, revoke)
