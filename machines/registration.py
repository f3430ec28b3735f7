"""Registration: create an account, verify the email, fill the profile, pick a plan
(XState id ``registration``).

For designers. The user enters an email and a password and submits; the auth
service creates an unverified account and emails a code. The user enters the
code (or asks for a new one), then their name and organization, then picks a
plan. A free plan completes registration at once; a paid plan runs the
``checkout`` flow as a child, and registration completes when the payment is
confirmed (checkout's output carries the ``paymentId``). The frontend then
refetches ``whoAmI``; the flow's output is the ``userId`` and the ``planId``.

    account --ACCOUNT_SUBMITTED--> registering --> emailVerification --CODE_SUBMITTED-->
    verifyingEmail --> profile --PROFILE_SUBMITTED--> savingProfile --> planSelection
    planSelection --PLAN_SELECTED (free)--> complete
    planSelection --PLAN_SELECTED (paid)--> payingForPlan (checkout child) --> complete
    payingForPlan --PAYMENT_DECLINED (from checkout)--> failure.payment_declined

Failures, and how the user gets out of each:

- ``failure.email_taken`` (Register answered ``already_exists``):
  EMAIL_EDIT_REQUESTED goes back to account with the form kept;
- ``failure.code_invalid`` (VerifyEmail answered ``invalid_argument``): CODE_ENTERED
  goes back to emailVerification with the new code; RESEND_CODE_REQUESTED asks
  for a new code;
- ``failure.code_expired`` (VerifyEmail answered ``failed_precondition``):
  RESEND_CODE_REQUESTED;
- ``failure.network_error`` (any other error of any call): RETRY repeats the
  call that failed, recorded in ``failedStep``;
- ``failure.payment_declined`` (the checkout child's payment was declined: the
  child sends PAYMENT_DECLINED, and leaving payingForPlan stops it):
  PAYMENT_RETRIED with a fresh ``idempotencyKey`` (made by the frontend: the
  declined payment was processed, so its key cannot be used again) runs
  checkout again with that key; PLAN_CHANGE_REQUESTED goes back to
  planSelection to pick another plan.

Added to FLOWS.md:

- ``payingForPlan``: the state that runs the checkout child, with the plan and
  the payment's idempotency key as its input; if checkout ends without a
  payment (the user cancelled it, so its output's ``paymentId`` is empty), the
  user is back at planSelection. Checkout never ends in error on its own (a
  decline is sent as PAYMENT_DECLINED), so its error outcome (a crashed child
  machine) lands in network_error, whatever the error; RETRY runs checkout
  again with the same key;
- the checkout child tells this flow of a decline by sending PAYMENT_DECLINED
  (XState ``sendParent``), handled in payingForPlan; the decline's recovery
  events PAYMENT_RETRIED (carrying the new key) and PLAN_CHANGE_REQUESTED;
- context ``userId`` (from Register, sent with the later calls), ``planId``,
  ``idempotencyKey`` (of the next payment attempt: the frontend mints keys, and
  PLAN_SELECTED for a paid plan and PAYMENT_RETRIED carry a fresh one) and
  ``failedStep``;
- free plans are listed in ``FREE_PLANS``; PLAN_SELECTED with an empty plan id,
  or with a paid plan and no idempotency key, is ignored, and so is a
  PAYMENT_RETRIED without a key; EMAIL_CHANGED and CODE_ENTERED are also
  accepted in the failure states they fix (email_taken, code_invalid);
- ``resendingCode`` runs ``mirai.v1.AuthService/ResendVerificationCode`` and
  comes back to emailVerification with the code field cleared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, Field

from flowcheck.declare import (
    Event,
    Flow,
    NoInput,
    State,
    and_,
    assign,
    child_flow,
    ctx,
    eq,
    ev,
    failure,
    guard,
    in_,
    invoking,
    is_code,
    nonempty,
    not_,
    on_done,
    on_error,
    output,
    rpc,
    step,
    success,
    track,
)

FREE_PLANS = ("plan_free",)
"""Plans that need no payment."""

FailedStep = Literal[
    "", "registering", "verifyingEmail", "resendingCode", "savingProfile", "payingForPlan"
]


class RegistrationContext(BaseModel):
    email: str = ""
    password: str = ""
    userId: str = ""
    code: str = ""
    name: str = ""
    organization: str = ""
    planId: str = ""
    idempotencyKey: str = ""
    failedStep: FailedStep = ""
    error: str | None = None


class EmailChanged(BaseModel):
    """The user typed their email address."""

    email: str = Field(examples=["ada@example.com", ""])


class PasswordChanged(BaseModel):
    """The user typed a password."""

    password: str = Field(examples=["correct-horse", ""])


class CodeEntered(BaseModel):
    """The user typed the verification code from the email."""

    code: str = Field(examples=["123456", ""])


class NameChanged(BaseModel):
    """The user typed their name."""

    name: str = Field(examples=["Ada Lovelace", ""])


class OrganizationChanged(BaseModel):
    """The user typed their organization (optional)."""

    organization: str = Field(examples=["Mirai", ""])


class PlanSelected(BaseModel):
    """The user picked a plan: a free one completes, a paid one goes to checkout with the
    payment's idempotency key (made by the frontend; a free plan needs none)."""

    planId: str = Field(examples=["plan_free", "plan_pro", ""])
    idempotencyKey: str = Field(default="", examples=["idem-1", ""])


class PaymentRetried(BaseModel):
    """The user pays again after a decline, with a fresh idempotency key made by the frontend
    (the declined payment was processed: its key cannot be used again)."""

    idempotencyKey: str = Field(examples=["idem-2", ""])


account_filled = guard(
    "accountFilled", and_(nonempty(ctx("email")), nonempty(ctx("password")))
)
code_filled = guard("codeFilled", nonempty(ctx("code")))
profile_filled = guard("profileFilled", nonempty(ctx("name")))
free_plan = guard("freePlan", in_(ev("planId"), FREE_PLANS))
paid_plan = guard(
    "paidPlan",
    and_(
        nonempty(ev("planId")),
        not_(in_(ev("planId"), FREE_PLANS)),
        nonempty(ev("idempotencyKey")),
    ),
)
new_key_given = guard("newIdempotencyKeyGiven", nonempty(ev("idempotencyKey")))
payment_made = guard("paymentMade", nonempty(output("paymentId")))
email_taken = guard("emailTaken", is_code("already_exists"))
code_invalid = guard("codeInvalid", is_code("invalid_argument"))
code_expired = guard("codeExpired", is_code("failed_precondition"))


def _failed_in(step_name: str) -> Callable[..., Any]:
    return guard(f"failedIn{step_name[:1].upper()}{step_name[1:]}",
                 eq(ctx("failedStep"), step_name))


def _failed(step_name: str) -> Callable[..., Any]:
    """Record the error code and the step it happened in."""
    return assign(f"{step_name}Failed", error=ev("error.code"), failedStep=step_name)


set_email = assign("setEmail", email=ev("email"))
set_password = assign("setPassword", password=ev("password"))
set_user = assign("setUser", userId=output("userId"))
set_code = assign("setCode", code=ev("code"))
set_code_and_clear = assign("setCodeAfterError", code=ev("code"), error=None)
clear_code = assign("clearCode", code="")
set_name = assign("setName", name=ev("name"))
set_organization = assign("setOrganization", organization=ev("organization"))
set_plan = assign("setPlan", planId=ev("planId"), error=None)
set_paid_plan = assign(
    "setPaidPlan", planId=ev("planId"), idempotencyKey=ev("idempotencyKey"), error=None
)
record_decline = assign("paymentDeclined", error="payment_declined", failedStep="payingForPlan")
retry_payment = assign(
    "retryPayment", idempotencyKey=ev("idempotencyKey"), error=None, failedStep=""
)
clear_error = assign("clearError", error=None, failedStep="")

register_failed = _failed("registering")
verify_failed = _failed("verifyingEmail")
resend_failed = _failed("resendingCode")
profile_failed = _failed("savingProfile")
payment_failed = _failed("payingForPlan")


class Registration(Flow):
    flow_id = "registration"
    Context = RegistrationContext
    Input = NoInput
    payloads = {  # noqa: RUF012
        "EMAIL_CHANGED": EmailChanged,
        "PASSWORD_CHANGED": PasswordChanged,
        "CODE_ENTERED": CodeEntered,
        "NAME_CHANGED": NameChanged,
        "ORGANIZATION_CHANGED": OrganizationChanged,
        "PLAN_SELECTED": PlanSelected,
        "PAYMENT_RETRIED": PaymentRetried,
    }
    output = {"userId": ctx("userId"), "planId": ctx("planId")}  # noqa: RUF012

    account = step("Enter an email address and a password.", initial=True)
    registering = invoking(
        rpc(
            "register",
            "mirai.v1.AuthService/Register",
            input={"email": ctx("email"), "password": ctx("password")},
            outputs=[{"userId": "user_1"}],
            errors=["already_exists", "unavailable"],
        ),
        description="Creating the account.",
    )
    emailVerification = step("Enter the code sent by email, or ask for a new one.")
    verifyingEmail = invoking(
        rpc(
            "verifyEmail",
            "mirai.v1.AuthService/VerifyEmail",
            input={"userId": ctx("userId"), "code": ctx("code")},
            outputs=[{"userId": "user_1"}],
            errors=["invalid_argument", "failed_precondition", "unavailable"],
        ),
        description="Checking the code.",
    )
    resendingCode = invoking(
        rpc(
            "resendVerificationCode",
            "mirai.v1.AuthService/ResendVerificationCode",
            input={"userId": ctx("userId")},
            outputs=[{"userId": "user_1"}],
            errors=["unavailable"],
        ),
        description="Sending a new code.",
    )
    profile = step("Enter your name and organization.")
    savingProfile = invoking(
        rpc(
            "updateProfile",
            "mirai.v1.UserService/UpdateProfile",
            input={
                "userId": ctx("userId"),
                "name": ctx("name"),
                "organization": ctx("organization"),
            },
            outputs=[{"user": {"userId": "user_1", "name": "Ada Lovelace"}}],
            errors=["unavailable"],
        ),
        description="Saving the profile.",
    )
    planSelection = step("Pick a plan.")
    payingForPlan = invoking(
        child_flow(
            "checkout",
            "checkout",
            input={"planId": ctx("planId"), "idempotencyKey": ctx("idempotencyKey")},
            outputs=[{"paymentId": "pay_1"}, {"paymentId": ""}],
            # Checkout never ends in error on its own (a decline is sent as PAYMENT_DECLINED):
            # an error means its machine crashed.
            errors=["unknown"],
        ),
        description="Paying for the plan in the checkout flow.",
    )
    complete = success("The account is ready.")

    class failure(State.Compound):
        network_error = failure("A call could not complete; RETRY repeats it.", initial=True)
        email_taken = failure("An account with this email exists; change the email.")
        code_invalid = failure("The code is wrong; enter it again.")
        code_expired = failure("The code expired; ask for a new one.")
        payment_declined = failure("The payment was declined; pay again or pick another plan.")

    complete.enter.add(track("REGISTRATION_COMPLETED", include=["userId", "planId"]))

    # account
    EMAIL_CHANGED = account.to(None, on=set_email) | failure.email_taken.to(None, on=set_email)
    PASSWORD_CHANGED = account.to(None, on=set_password)
    ACCOUNT_SUBMITTED = account.to(registering, cond=account_filled)
    register_done = Event(registering.to(emailVerification, on=set_user), id=on_done("register"))
    register_error = Event(
        registering.to(failure.email_taken, cond=email_taken, on=register_failed)
        | registering.to(failure.network_error, on=register_failed),
        id=on_error("register"),
    )
    EMAIL_EDIT_REQUESTED = failure.email_taken.to(account, on=clear_error)

    # email verification
    CODE_ENTERED = emailVerification.to(None, on=set_code) | failure.code_invalid.to(
        emailVerification, on=set_code_and_clear
    )
    CODE_SUBMITTED = emailVerification.to(verifyingEmail, cond=code_filled)
    verify_done = Event(verifyingEmail.to(profile), id=on_done("verifyEmail"))
    verify_error = Event(
        verifyingEmail.to(failure.code_invalid, cond=code_invalid, on=verify_failed)
        | verifyingEmail.to(failure.code_expired, cond=code_expired, on=verify_failed)
        | verifyingEmail.to(failure.network_error, on=verify_failed),
        id=on_error("verifyEmail"),
    )
    RESEND_CODE_REQUESTED = (
        emailVerification.to(resendingCode)
        | failure.code_invalid.to(resendingCode, on=clear_error)
        | failure.code_expired.to(resendingCode, on=clear_error)
    )
    resend_done = Event(
        resendingCode.to(emailVerification, on=clear_code), id=on_done("resendVerificationCode")
    )
    resend_error = Event(
        resendingCode.to(failure.network_error, on=resend_failed),
        id=on_error("resendVerificationCode"),
    )

    # profile
    NAME_CHANGED = profile.to(None, on=set_name)
    ORGANIZATION_CHANGED = profile.to(None, on=set_organization)
    PROFILE_SUBMITTED = profile.to(savingProfile, cond=profile_filled)
    profile_done = Event(savingProfile.to(planSelection), id=on_done("updateProfile"))
    profile_error = Event(
        savingProfile.to(failure.network_error, on=profile_failed), id=on_error("updateProfile")
    )

    # plan and payment
    PLAN_SELECTED = (
        planSelection.to(complete, cond=free_plan, on=set_plan)
        | planSelection.to(payingForPlan, cond=paid_plan, on=set_paid_plan)
    )
    checkout_done = Event(
        payingForPlan.to(complete, cond=payment_made) | payingForPlan.to(planSelection),
        id=on_done("checkout"),
    )
    checkout_error = Event(
        payingForPlan.to(failure.network_error, on=payment_failed), id=on_error("checkout")
    )
    # Sent by the checkout child when the payment was declined (it would wait for a retry
    # there; this flow takes over, which stops the child).
    PAYMENT_DECLINED = payingForPlan.to(failure.payment_declined, on=record_decline)
    PAYMENT_RETRIED = failure.payment_declined.to(
        payingForPlan, cond=new_key_given, on=retry_payment
    )
    PLAN_CHANGE_REQUESTED = failure.payment_declined.to(planSelection, on=clear_error)

    # recovery from network errors
    RETRY = (
        failure.network_error.to(registering, cond=_failed_in("registering"), on=clear_error)
        | failure.network_error.to(
            verifyingEmail, cond=_failed_in("verifyingEmail"), on=clear_error
        )
        | failure.network_error.to(resendingCode, cond=_failed_in("resendingCode"), on=clear_error)
        | failure.network_error.to(
            savingProfile, cond=_failed_in("savingProfile"), on=clear_error
        )
        | failure.network_error.to(
            payingForPlan, cond=_failed_in("payingForPlan"), on=clear_error
        )
    )
