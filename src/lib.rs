//! twoyes: double opt-in introductions.
//!
//! Layers point inwards: `domain` (pure) ← `store` ← `mail` ← `worker` ← `web` ← `cli`.
#![forbid(unsafe_code)]

pub mod domain;
