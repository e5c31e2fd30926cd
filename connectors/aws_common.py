"""What the AWS connectors share: a boto3 session from the SDK's own credential chain, one way to turn AWS
errors into errors a user can act on, and the read-only identity check of `finops doctor`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from finops.errors import SourceError

if TYPE_CHECKING:
    from finops.doctor import Check

T = TypeVar("T")
CREDENTIAL_CODES = (
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "InvalidClientTokenId",
)
DENIED_CODES = ("AccessDenied", "AccessDeniedException", "403", "AllAccessDisabled", "UnauthorizedOperation")


def session(settings: dict[str, Any]) -> Any:
    """A boto3 session: the profile and region from finops.toml if set, else boto3's own chain. finops never
    reads, stores or prints a key."""
    try:
        import boto3
    except ImportError as e:
        raise SourceError("the AWS connectors need boto3", hint="pip install 'gpu-finops[aws]'") from e
    return boto3.Session(profile_name=settings.get("profile"), region_name=settings.get("region"))


def aws_call(what: str, call: Callable[[], T], permissions: str) -> T:
    """Run an AWS call; refused credentials, denied access and other failures become SourceErrors saying
    `what` failed and which `permissions` the credentials need."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return call()
    except ClientError as e:
        code = e.response.get("Error", {}).get("Code", "")
        raise aws_error(what, code, e, permissions) from e
    except BotoCoreError as e:
        raise SourceError(f"{what}: {e}", hint="check network access, the region and the credentials") from e


def aws_error(what: str, code: str, e: Exception, permissions: str) -> SourceError:
    if code in CREDENTIAL_CODES:
        return SourceError(
            f"{what}: AWS refused the credentials ({code})",
            hint="boto3's credential chain found keys AWS does not accept: check AWS_PROFILE, `aws sso login`, "
            "or the instance role",
        )
    if code in DENIED_CODES:
        return SourceError(
            f"{what}: access denied",
            hint=f"the credentials boto3 found need {permissions}; "
            "check the profile or role with `aws sts get-caller-identity`",
        )
    if code == "NoSuchBucket":
        return SourceError(f"{what}: no such bucket", hint="check the bucket name in finops.toml")
    return SourceError(f"{what}: {code or type(e).__name__}: {e}")


def identity_check(source: str, settings: dict[str, Any]) -> tuple[Check, str | None]:
    """Who boto3 is signed in as (the account id, never a secret), as a doctor check, and that account."""
    from finops.doctor import Check

    try:
        identity = aws_call(
            "STS", lambda: session(settings).client("sts").get_caller_identity(), "sts:GetCallerIdentity"
        )
    except SourceError as e:
        return Check(source, "credentials", False, e.message, e.hint), None
    account = str(identity.get("Account", "?"))
    return Check(source, "credentials", True, f"signed in to account {account}"), account
