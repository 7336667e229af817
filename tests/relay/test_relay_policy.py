"""Pure routing rules of Outbound Relay (docs/protocol.md §7.6), without any I/O."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evervault.domain.errors import InvalidArgumentError
from evervault.domain.relay import DomainRule, Endpoint, RelayPolicy, RelayReason

NEVER = ("https://api.evervault.com/", "https://ca.evervault.com", "https://relay.evervault.com:443")


def decide(domains: list[str], url: str) -> RelayReason:
    return RelayPolicy.build(domains, NEVER).decide(url).reason


def test_exact_domain_matches_host_case_insensitively_ignoring_user_info_and_port() -> None:
    domains = ["API.Example.com"]
    assert decide(domains, "https://api.example.com/v1?x=1") is RelayReason.RELAYED
    assert decide(domains, "https://user:pw@API.EXAMPLE.COM:8443/") is RelayReason.RELAYED
    assert decide(domains, "https://api.example.com./") is RelayReason.RELAYED
    assert decide(domains, "https://other.example.com/") is RelayReason.NO_MATCH
    assert decide(domains, "https://sub.api.example.com/") is RelayReason.NO_MATCH


def test_a_rule_with_a_port_matches_only_that_effective_port() -> None:
    assert decide(["localhost:8443"], "https://localhost:8443/") is RelayReason.RELAYED
    assert decide(["localhost:8443"], "https://localhost/") is RelayReason.NO_MATCH
    assert decide(["localhost:443"], "https://localhost/") is RelayReason.RELAYED
    assert decide(["[::1]:9000"], "https://[::1]:9000/") is RelayReason.RELAYED
    assert decide(["::1"], "https://[::1]:9000/") is RelayReason.RELAYED


def test_wildcards_are_the_plain_suffix_test_of_the_published_sdk() -> None:
    assert decide(["*.example.com"], "https://a.example.com/") is RelayReason.RELAYED
    assert decide(["*.example.com"], "https://a.b.example.com/") is RelayReason.RELAYED
    assert decide(["*.example.com"], "https://example.com/") is RelayReason.NO_MATCH
    assert decide(["*example.com"], "https://badexample.com/") is RelayReason.RELAYED
    assert decide(["*.example.com"], "https://example.com.evil.org/") is RelayReason.NO_MATCH


def test_only_https_is_relayed_so_http_urls_never_carry_the_key() -> None:
    assert decide(["api.example.com"], "http://api.example.com/") is RelayReason.NOT_HTTPS
    assert decide(["api.example.com"], "ftp://api.example.com/") is RelayReason.INVALID_URL


def test_evervault_endpoints_are_never_relayed_even_when_they_match() -> None:
    domains = ["*.evervault.com"]
    assert decide(domains, "https://api.evervault.com/decrypt") is RelayReason.EVERVAULT_ENDPOINT
    assert decide(domains, "https://ca.evervault.com") is RelayReason.EVERVAULT_ENDPOINT
    assert decide(domains, "https://relay.evervault.com/") is RelayReason.EVERVAULT_ENDPOINT
    assert decide(domains, "https://api.evervault.com:444/") is RelayReason.RELAYED  # another endpoint
    assert decide(domains, "https://docs.evervault.com/") is RelayReason.RELAYED


@pytest.mark.parametrize("url", ["", "not a url", "https://", "https://host:99999/", "https://[::1/"])
def test_unusable_urls_are_not_relayed(url: str) -> None:
    assert decide(["host"], url) is RelayReason.INVALID_URL


@pytest.mark.parametrize(
    "rule",
    [
        "",
        "  ",
        "https://api.example.com",
        "api.example.com/path",
        "user@api.example.com",
        "*",
        # A host that is only the trailing dot would be the empty suffix: every host.
        "*.",
        "*.:443",
        ".",
        "a*.b.com",
        "api.example.com:0",
        "api.example.com:x",
        "[::1",
        "[::1]x",
    ],
)
def test_unusable_rules_are_refused_with_a_hint(rule: str) -> None:
    with pytest.raises(InvalidArgumentError, match="ecryption domain"):
        DomainRule.parse(rule)


def test_configured_domains_skip_unusable_entries_and_report_them() -> None:
    policy = RelayPolicy.build(["old.example.com"], NEVER)
    updated, rejected = policy.with_domains(["new.example.com", "https://bad.example.com"])
    assert rejected == ("https://bad.example.com",)
    assert updated.domains == ("new.example.com",)
    assert updated.never_relayed == policy.never_relayed
    assert policy.domains == ("old.example.com",)  # immutable: the old value is unchanged


def test_policy_and_rules_are_immutable() -> None:
    policy = RelayPolicy.build(["a.com"])
    with pytest.raises(AttributeError):
        policy.rules = ()  # type: ignore[misc]


labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12).filter(
    lambda label: not label.startswith("-")
)
hosts = st.lists(labels, min_size=1, max_size=4).map(".".join)
ports = st.integers(min_value=1, max_value=65535)


@settings(max_examples=60, deadline=None)
@given(rule_host=hosts, url_host=hosts, port=ports, upper=st.booleans())
def test_exact_rules_match_iff_the_host_names_are_equal(
    rule_host: str, url_host: str, port: int, upper: bool
) -> None:
    rule = rule_host.upper() if upper else rule_host
    relayed = RelayPolicy.build([rule]).decide(f"https://{url_host}:{port}/p").relayed
    assert relayed == (rule_host == url_host)


@settings(max_examples=60, deadline=None)
@given(host=hosts, port=ports, rule=hosts)
def test_http_is_never_relayed_whatever_the_rules(host: str, port: int, rule: str) -> None:
    policy = RelayPolicy.build([host, f"*{rule}", f"{host}:{port}"])
    assert not policy.decide(f"http://{host}:{port}/").relayed


@settings(max_examples=60, deadline=None)
@given(host=hosts, suffix=hosts, port=ports)
def test_wildcard_matches_exactly_the_hosts_ending_with_the_suffix(host: str, suffix: str, port: int) -> None:
    endpoint = Endpoint(host, port)
    assert DomainRule.parse(f"*.{suffix}").matches(endpoint) == host.endswith("." + suffix)
