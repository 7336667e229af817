"""PCR policies: validation at construction, case-insensitive matching, roll-over, errors."""

from __future__ import annotations

from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evervault.domain.attestation import AnyOf, PCRs, UnsafeSkipPcrChecks, pcr_policy_from
from evervault.domain.attestation.document import AttestationDocument, parse_document
from evervault.domain.errors import AttestationError, InvalidArgumentError, InvalidPCRsError
from evervault.local.enclave import expected_pcrs_of, simulated_pcrs
from tests.attestation.conftest import SignedFixture
from tests.attestation.pcr_strategies import CARELESS_VALUES, MIXED_VALUES

GOOD = expected_pcrs_of(simulated_pcrs())
ZERO = "00" * 48


@pytest.fixture(scope="module")
def document(signed: SignedFixture) -> AttestationDocument:
    return parse_document(cbor2.loads(signed.document)[2])


def test_matching_set_passes(document: AttestationDocument) -> None:
    pcr_policy_from(GOOD).check(document)
    pcr_policy_from({"pcr_8": GOOD["pcr_8"]}).check(document)


def test_uppercase_hex_is_the_same_measurement(document: AttestationDocument) -> None:
    upper = {name: value.upper() for name, value in GOOD.items()}
    pcr_policy_from(upper).check(document)
    assert PCRs(pcr_0=GOOD["pcr_0"].upper()).pcr_0 == GOOD["pcr_0"]


CARELESS: list[object] = [
    None,
    {},
    [],
    (),
    [{}],
    {"pcr_8": None},
    [{"pcr_8": None}],
    [{"pcr_0": None, "pcr_8": None}],
    [GOOD, {}],
    [{}, {"pcr_8": ZERO}],
    [{"pcr_8": ZERO}, {"pcr_2": None}],
    [PCRs(pcr_8=ZERO), UnsafeSkipPcrChecks()],
]


@pytest.mark.parametrize("careless", CARELESS, ids=repr)
def test_values_that_check_nothing_are_refused(careless: object) -> None:
    with pytest.raises(InvalidPCRsError) as caught:
        pcr_policy_from(careless)
    assert caught.value.checks_nothing
    assert caught.value.kind == "pcr-mismatch"
    assert "UnsafeSkipPcrChecks()" in str(caught.value) or "None" in str(caught.value)


def test_empty_sets_cannot_even_be_constructed() -> None:
    with pytest.raises(InvalidPCRsError):
        PCRs()
    with pytest.raises(InvalidPCRsError):
        AnyOf(())
    with pytest.raises(InvalidPCRsError):
        AnyOf(({"pcr_8": ZERO},))  # type: ignore[arg-type]  # a dict is no PCRs


def test_a_none_beside_real_values_is_refused_too() -> None:
    # {"pcr_0": GOOD, "pcr_8": os.environ.get("PCR8")} must not quietly drop the pcr_8 check.
    with pytest.raises(InvalidPCRsError) as caught:
        pcr_policy_from({"pcr_0": GOOD["pcr_0"], "pcr_8": None})
    assert "['pcr_8']" in str(caught.value) and not caught.value.checks_nothing


def test_the_explicit_opt_out_accepts_any_measurements(document: AttestationDocument) -> None:
    skip = UnsafeSkipPcrChecks()
    assert pcr_policy_from(skip) is skip and not skip.checks_pcrs
    skip.check(document)
    verify_pcrs_checked = pcr_policy_from(GOOD)
    assert verify_pcrs_checked.checks_pcrs


def test_the_opt_out_class_itself_is_no_policy() -> None:
    with pytest.raises(InvalidPCRsError, match=r"UnsafeSkipPcrChecks\(\), not the class"):
        pcr_policy_from(UnsafeSkipPcrChecks)


def test_mismatch_names_expected_and_received(document: AttestationDocument) -> None:
    with pytest.raises(AttestationError) as caught:
        pcr_policy_from({"pcr_2": ZERO, "pcr_8": GOOD["pcr_8"]}).check(document)
    message = str(caught.value)
    assert caught.value.kind == "pcr-mismatch"
    assert f"pcr_2 expected {ZERO} received {GOOD['pcr_2']}" in message
    assert "pcr_8" not in message


def test_roll_over_passes_when_any_set_matches(document: AttestationDocument) -> None:
    policy = pcr_policy_from([{"pcr_0": ZERO}, {"pcr_0": GOOD["pcr_0"]}])
    policy.check(document)
    assert len(policy.alternatives) == 2


def test_roll_over_fails_naming_every_set(document: AttestationDocument) -> None:
    with pytest.raises(AttestationError) as caught:
        pcr_policy_from([{"pcr_0": ZERO}, PCRs(pcr_1=ZERO)]).check(document)
    assert "set 0: pcr_0" in str(caught.value) and "set 1: pcr_1" in str(caught.value)


def test_a_pcr_the_document_lacks_never_matches(document: AttestationDocument) -> None:
    lacking = AttestationDocument(**{**document.__dict__, "pcrs": {0: document.pcrs[0]}})
    with pytest.raises(AttestationError) as caught:
        pcr_policy_from({"pcr_8": GOOD["pcr_8"]}).check(lacking)
    assert "received nothing" in str(caught.value)


@pytest.mark.parametrize(
    "bad",
    [
        {"pcr_0": "zz" * 48},
        {"pcr_0": "0" * 95},
        {"pcr_0": ""},
        {"pcr_0": "0x" + "00" * 47},
        {"pcr_0": b"\x00" * 48},
        {"pcr_0": 0},
        {"pcr8": ZERO},
        {"PCR0": ZERO},
        {"pcr_3": ZERO},
    ],
)
def test_invalid_expected_values_fail_at_construction(bad: dict[str, Any]) -> None:
    with pytest.raises(InvalidPCRsError) as caught:
        pcr_policy_from(bad)
    assert caught.value.kind == "pcr-mismatch"
    assert isinstance(caught.value, InvalidArgumentError)


@pytest.mark.parametrize("bad", ["pcr_8", 42, [["pcr_0"]], [42]])
def test_unusable_shapes_fail_at_construction(bad: Any) -> None:
    with pytest.raises(InvalidPCRsError):
        pcr_policy_from(bad)


def test_pcrs_keyword_construction_validates_too() -> None:
    with pytest.raises(InvalidPCRsError):
        PCRs(pcr_8="not hex")
    assert PCRs(pcr_8=ZERO).expected() == {"pcr_8": ZERO}


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["pcr_0", "pcr_1", "pcr_2", "pcr_8"]),
    st.binary(min_size=48, max_size=48),
    st.booleans(),
)
def test_any_48_byte_value_in_either_case_round_trips(name: str, value: bytes, upper: bool) -> None:
    text = value.hex().upper() if upper else value.hex()
    assert PCRs.from_mapping({name: text}).expected() == {name: value.hex()}


# --- property: nothing built from None / {} / [] ever accepts arbitrary PCRs -----------------


@given(CARELESS_VALUES)
def test_values_built_from_empties_are_always_refused(value: object) -> None:
    with pytest.raises(InvalidPCRsError):
        pcr_policy_from(value)


@settings(max_examples=200)
@given(MIXED_VALUES, st.dictionaries(st.sampled_from([0, 1, 2, 8]), st.binary(min_size=48, max_size=48)))
def test_no_accepted_value_lets_foreign_measurements_through(
    document: AttestationDocument, value: object, foreign: dict[int, bytes]
) -> None:
    """Whatever is accepted as a policy rejects a document whose PCRs it never named."""
    try:
        policy = pcr_policy_from(value)
    except InvalidPCRsError:
        return
    assert isinstance(policy, AnyOf) and policy.alternatives
    named = {
        bytes.fromhex(hex_value)
        for alternative in policy.alternatives
        for hex_value in alternative.expected().values()
    }
    pcrs = {index: measurement for index, measurement in foreign.items() if measurement not in named}
    stranger = AttestationDocument(**{**document.__dict__, "pcrs": pcrs})
    with pytest.raises(AttestationError) as caught:
        policy.check(stranger)
    assert caught.value.kind == "pcr-mismatch"
