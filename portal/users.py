"""Portal users and roles from a TOML file, passwords hashed with argon2id.

File: ``$KONGCHUO_PORTAL_USERS``, default ``$KONGCHUO_HOME/portal/users.toml``; one table per user::

    [users.jiangguanchi]
    display_name = "将官池镇中心学校"
    role = "township"            # district | township | school | auditor (read-only, 追溯 pages)
    township = "将官池镇"
    township_code = "411003107"  # what access goes by; filled in from the name by `add` (reference townships)
    password_hash = "$argon2id$v=19$…"

Access is decided by codes only (portal/scope.py): a township user by ``township_code`` (the code in the
manifest entry of each R5 workbook), a school user by ``school_code`` (the 10-digit 学校标识码 each R5 sheet
carries as its defined name ``KC_SCHOOL_CODE``), ``district_code`` / ``district`` (e.g. "建安区") optionally
limits any user to the reports of that district. A name given without its code is resolved through the
reference data when the file is read; a name that matches no code or several is refused, never guessed.
The file is re-read when it changes (no restart to add a user).

Command line (hashes the password, never echoes it, writes the file with mode 0600)::

    python -m portal.users add jiangguanchi --role township --township 将官池镇 --display-name 将官池镇中心学校
    python -m portal.users passwd jiangguanchi
    python -m portal.users remove jiangguanchi
    python -m portal.users list
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import os
import re
import sys
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from kongchuo.settings import kongchuo_home
from portal.scope import Reference, resolve

ROLES: dict[str, str] = {"district": "区教育局", "township": "乡镇（街道）", "school": "学校", "auditor": "审计（只读）"}
TRACE_ROLES = frozenset({"auditor", "district"})  # may open the 追溯 pages (portal/trace.py)
USERNAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD = 10

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile (t=3, m=64 MiB, p=4)


class UsersFileError(ValueError):
    pass


@dataclass(frozen=True)
class User:
    username: str
    role: str
    password_hash: str
    display_name: str = ""
    district: str | None = None
    township: str | None = None
    school: str | None = None
    school_code: str | None = None
    township_code: str | None = None
    district_code: str | None = None
    scope_error: str | None = None   # a name that matched no code or several (portal/scope.py): refused

    @property
    def fingerprint(self) -> str:
        """Changes when the password (or its hash) changes: sessions of the old password end."""
        return hashlib.sha256(f"{self.role}|{self.password_hash}".encode()).hexdigest()[:16]

    @property
    def role_label(self) -> str:
        return ROLES[self.role]

    @property
    def scope_label(self) -> str:
        parts = [self.district or "", self.township or "", self.school or self.school_code or ""]
        return " ".join(p for p in parts if p) or "全区"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


_DUMMY_HASH: list[str] = []


def verify_password(user: User | None, password: str) -> bool:
    """Constant work whether or not the user exists (an unknown name costs one argon2 verify too)."""
    if user is None:
        if not _DUMMY_HASH:
            _DUMMY_HASH.append(_hasher.hash("kongchuo-dummy-password"))
        target = _DUMMY_HASH[0]
    else:
        target = user.password_hash
    try:
        ok = _hasher.verify(target, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
    return ok and user is not None


def parse_users(data: dict, source: str = "users.toml") -> dict[str, User]:
    users: dict[str, User] = {}
    for name, entry in (data.get("users") or {}).items():
        if not USERNAME.match(name):
            raise UsersFileError(f"{source}: user name {name!r} must match {USERNAME.pattern}")
        role = entry.get("role")
        if role not in ROLES:
            raise UsersFileError(f"{source}: user {name}: role must be one of {', '.join(ROLES)}")
        if not str(entry.get("password_hash", "")).startswith("$argon2"):
            raise UsersFileError(f"{source}: user {name}: password_hash must be an argon2 hash")
        if role == "township" and not (entry.get("township") or entry.get("township_code")):
            raise UsersFileError(f"{source}: user {name}: a township user needs `township_code` or `township`")
        if role == "school" and not (entry.get("school") or entry.get("school_code")):
            raise UsersFileError(f"{source}: user {name}: a school user needs `school` or `school_code`")
        users[name] = User(
            username=name, role=role, password_hash=entry["password_hash"],
            display_name=str(entry.get("display_name") or name),
            district=entry.get("district") or None, township=entry.get("township") or None,
            school=entry.get("school") or None, school_code=_code(entry, "school_code"),
            township_code=_code(entry, "township_code"), district_code=_code(entry, "district_code"),
        )
    return users


def _code(entry: dict, key: str) -> str | None:
    return str(entry[key]).strip() if entry.get(key) else None


class UserStore:
    """The users file, re-read when its modification time or size changes. With ``reference`` (a
    portal.scope.ReferenceCache), names are resolved to codes (portal/scope.py)."""

    def __init__(self, path: Path, reference=None):
        self.path = Path(path)
        self.reference = reference
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._users: dict[str, User] = {}

    def users(self) -> dict[str, User]:
        with self._lock:
            try:
                st = self.path.stat()
            except FileNotFoundError:
                self._stamp, self._users = None, {}
                return {}
            ref = self.reference.get() if self.reference is not None else None
            version = self.reference.version if self.reference is not None else 0
            stamp = (st.st_mtime_ns, st.st_size, version)  # re-resolved when the reference data changes too
            if stamp != self._stamp:
                with open(self.path, "rb") as fh:
                    self._users = parse_users(tomllib.load(fh), str(self.path))
                if ref is not None:

                    self._users = {n: resolve(u, ref) for n, u in self._users.items()}
                self._stamp = stamp
            return self._users

    def get(self, username: str) -> User | None:
        return self.users().get(username)


# ---------------------------------------------------------------------------------------------- command line

def default_path() -> Path:

    return Path(os.environ.get("KONGCHUO_PORTAL_USERS") or kongchuo_home() / "portal" / "users.toml")


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("密码 Password: ")
        if getpass.getpass("再次输入 Repeat: ") != password:
            raise SystemExit("两次输入的密码不一致 / passwords differ")
    if len(password) < MIN_PASSWORD:
        raise SystemExit(f"密码至少 {MIN_PASSWORD} 个字符 / password needs at least {MIN_PASSWORD} characters")
    return password


def _load_doc(path: Path):
    import tomlkit

    if path.exists():
        doc = tomlkit.parse(path.read_text(encoding="utf-8"))
    else:
        doc = tomlkit.document()
        doc.add(tomlkit.comment("kongchuo portal users; manage with `python -m portal.users` (passwords: argon2id)"))
    if "users" not in doc:
        doc["users"] = tomlkit.table(is_super_table=True)
    return doc


def _save_doc(path: Path, doc) -> None:
    import tomlkit

    text = tomlkit.dumps(doc)
    parse_users(tomllib.loads(text), str(path))  # never write a file the portal would reject
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _scope_fields(args: argparse.Namespace) -> dict[str, str]:
    """The user's scope as written to the file: names as given plus the codes they resolve to through the
    reference data; a name that does not resolve to exactly one code is refused (SystemExit)."""

    given = {k: getattr(args, k) for k in ("district", "township", "school", "school_code", "township_code",
                                           "district_code") if getattr(args, k)}
    probe = User(username=args.username, role=args.role, password_hash="", **given)
    resolved = resolve(probe, Reference.load(kongchuo_home()))
    if resolved.scope_error:
        raise SystemExit(resolved.scope_error)
    for key in ("school_code", "township_code", "district_code"):
        if getattr(resolved, key):
            given[key] = getattr(resolved, key)
    return given


def main(argv: list[str] | None = None) -> int:
    import tomlkit

    parser = argparse.ArgumentParser(prog="python -m portal.users", description="门户用户管理 Portal users")
    parser.add_argument("--file", type=Path, default=None, help="users file (default $KONGCHUO_PORTAL_USERS or "
                        "$KONGCHUO_HOME/portal/users.toml)")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="add or replace a user")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=list(ROLES))
    add.add_argument("--display-name", default="")
    add.add_argument("--district")
    add.add_argument("--township")
    add.add_argument("--school")
    add.add_argument("--school-code", help="10-digit 学校标识码; without it --school is looked up in the reference "
                     "schools and the user is refused when the name matches no school or several")
    add.add_argument("--township-code")
    add.add_argument("--district-code")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    passwd = sub.add_parser("passwd", help="set a user's password")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true")
    remove = sub.add_parser("remove", help="remove a user")
    remove.add_argument("username")
    sub.add_parser("list", help="list users (no hashes)")
    hsh = sub.add_parser("hash", help="print the argon2 hash of a password")
    hsh.add_argument("--password-stdin", action="store_true")
    args = parser.parse_args(argv)
    path = args.file or default_path()

    if args.command == "hash":
        print(hash_password(_read_password(args)))
        return 0
    if args.command == "list":
        for user in UserStore(path).users().values():
            print(f"{user.username}\t{user.role}\t{user.scope_label}\t{user.display_name}")
        return 0
    if getattr(args, "username", None) and not USERNAME.match(args.username):
        raise SystemExit(f"user name must match {USERNAME.pattern}")
    doc = _load_doc(path)
    users = doc["users"]
    if args.command == "add":
        entry = tomlkit.table()
        entry["display_name"] = args.display_name or args.username
        entry["role"] = args.role
        for key, value in _scope_fields(args).items():
            entry[key] = value
        entry["password_hash"] = hash_password(_read_password(args))
        users[args.username] = entry
    elif args.command == "passwd":
        if args.username not in users:
            raise SystemExit(f"no user {args.username} in {path}")
        users[args.username]["password_hash"] = hash_password(_read_password(args))
    elif args.command == "remove":
        if args.username not in users:
            raise SystemExit(f"no user {args.username} in {path}")
        del users[args.username]
    try:
        _save_doc(path, doc)
    except UsersFileError as exc:
        raise SystemExit(str(exc)) from None
    print(f"{args.command}: {args.username} → {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
