//! Scripted segment sequences and lab-capture validation.

mod lab;
mod scripted;
