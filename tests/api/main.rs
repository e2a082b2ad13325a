//! Integration tests: the real server on a random port, a fresh database per
//! test, emails read back from the transport, links clicked as a person would.

mod helpers;

mod api_contract;
mod cli;
mod crash;
mod happy_path;
mod party_flows;
mod smtp_delivery;
