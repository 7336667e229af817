"""Evervault SDK: field encryption, Functions, Outbound Relay and attested enclave sessions."""
