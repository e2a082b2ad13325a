//! twoyes: double opt-in introductions.
//!
//! Layers point inwards: `domain` (pure) ← `store` ← `mail` ← `worker` ← `web` ← `cli`.
#![forbid(unsafe_code)]

pub mod app;
pub mod cli;
pub mod config;
pub mod domain;
pub mod mail;
pub mod store;
pub mod usecases;
pub mod web;
pub mod worker;
