//! Scripted segment sequences and lab-capture validation.
#![allow(clippy::unwrap_used)]

mod lab;
mod scripted;
