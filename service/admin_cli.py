"""`sparring admin ...`: bootstrap users, workspaces, members and API keys from the shell."""

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

from service.cli_support import Handler, Subparsers, load_settings
from service.logs import configure_logging
from service.settings import Settings

# Who the audit log names for changes made from the shell; a reserved name, so no user can
# be called that and pass their changes off as the shell's.
CLI_ACTOR = "cli"
SECONDS_PER_DAY = 86_400
ROLES = ("owner", "editor", "viewer")

Action = Callable[[argparse.Namespace, Settings], Awaitable[str]]


async def _create_user(args: argparse.Namespace, settings: Settings) -> str:
    from service.api.accounts import create_user

    user = await create_user(args.name, display_name=args.display_name, admin=args.admin)
    return f"Created {'server admin' if user.admin else 'user'} {user.name}."


async def _create_workspace(args: argparse.Namespace, settings: Settings) -> str:
    from service.api.accounts import create_workspace

    workspace = await create_workspace(
        args.name, description=args.description, owner=args.owner, actor=CLI_ACTOR
    )
    owner = f" owned by {args.owner}" if args.owner else ""
    return f"Created workspace {workspace.name}{owner}."


async def _add_member(args: argparse.Namespace, settings: Settings) -> str:
    from service.api.accounts import add_member

    member = await add_member(args.user, args.role, workspace=args.workspace, actor=CLI_ACTOR)
    return f"{member.user} is {member.role.value} of {args.workspace}."


async def _create_key(args: argparse.Namespace, settings: Settings) -> str:
    from service.api.accounts import create_api_key, get_user
    from service.api.errors import InvalidInput
    from service.auth.secret import api_key_secret

    workspace = args.workspace or (await get_user(args.user)).default_workspace
    if workspace is None:
        raise InvalidInput(f"User {args.user} is in no workspace; add them to one first.")
    expires_at = None
    if args.expires_in_days is not None:
        expires_at = time.time() + args.expires_in_days * SECONDS_PER_DAY
    created = await create_api_key(
        args.user,
        workspace=workspace,
        secret=api_key_secret(settings),
        actor=CLI_ACTOR,
        label=args.label,
        expires_at=expires_at,
    )
    sys.stderr.write(
        f"API key {created.prefix} for {created.user} in {created.workspace}. "
        "It is shown this once; store it now.\n"
    )
    return created.key


async def _revoke_key(args: argparse.Namespace, settings: Settings) -> str:
    from service.api.accounts import revoke_api_key

    revoked = await revoke_api_key(args.key_id, workspace=args.workspace, actor=CLI_ACTOR)
    return f"Revoked API key {revoked.prefix} of {revoked.user}."


async def _with_database(action: Action, args: argparse.Namespace, settings: Settings) -> str:
    from service.database import close_database, open_database

    await open_database(settings)
    try:
        return await action(args, settings)
    finally:
        await close_database()


def _handler(action: Action) -> Handler:
    def run(args: argparse.Namespace) -> int:
        # Imported when run, so that registering the command keeps `sparring --help` light.
        from service.api.errors import SparringError

        settings = load_settings()
        configure_logging(settings)
        try:
            output = asyncio.run(_with_database(action, args, settings))
        except SparringError as error:
            sys.stderr.write(f"sparring admin: {error}\n")
            return 1
        sys.stdout.write(output + "\n")
        return 0

    return run


def add_admin_command(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "admin", help="Manage users, workspaces, members and API keys (bootstrap).",
    )
    actions = parser.add_subparsers(dest="admin_command", metavar="ACTION", required=True)

    create_user = actions.add_parser("create-user", help="Create a user.")
    create_user.add_argument("name", help="User name: lowercase letters, digits, '.', '_', '-'.")
    create_user.add_argument("--display-name", default="", help="A name to show.")
    create_user.add_argument(
        "--admin",
        action="store_true",
        help="Make a server admin: may create users and workspaces over HTTP.",
    )
    create_user.set_defaults(handler=_handler(_create_user))

    create_workspace = actions.add_parser("create-workspace", help="Create a workspace.")
    create_workspace.add_argument("name", help="Workspace name.")
    create_workspace.add_argument("--owner", help="A user who becomes its first owner.")
    create_workspace.add_argument("--description", default="", help="What it is for.")
    create_workspace.set_defaults(handler=_handler(_create_workspace))

    add_member = actions.add_parser(
        "add-member", help="Give a user a role in a workspace (or change it)."
    )
    add_member.add_argument("workspace", help="Workspace name.")
    add_member.add_argument("user", help="User name.")
    add_member.add_argument("--role", choices=ROLES, required=True, help="The role to give.")
    add_member.set_defaults(handler=_handler(_add_member))

    create_key = actions.add_parser(
        "create-key", help="Create an API key for a user; prints the key, once."
    )
    create_key.add_argument("user", help="User name.")
    create_key.add_argument(
        "--workspace", help="Where the key acts by default (default: the user's first)."
    )
    create_key.add_argument("--label", default="", help="What the key is for.")
    create_key.add_argument(
        "--expires-in-days", type=float, help="Let the key expire after this many days."
    )
    create_key.set_defaults(handler=_handler(_create_key))

    revoke_key = actions.add_parser("revoke-key", help="Revoke an API key by id or prefix.")
    revoke_key.add_argument("workspace", help="The workspace the key acts in.")
    revoke_key.add_argument("key_id", help="The key's id or prefix (spk_...).")
    revoke_key.set_defaults(handler=_handler(_revoke_key))
