//! No build step: this script exists so that the `syn` build-dependency takes part in feature
//! resolution (see Cargo.toml, "Feature unification").
fn main() {}
