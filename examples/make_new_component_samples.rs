//! Regenerates the samples of component isolation: `testdata/new-component.msp`,
//! a patch whose main transform adds component `NewComp`, and
//! `testdata/new-component-product.msi`, the product as that patch leaves it,
//! with two instance transforms that isolate its components
//! ([`msp_retarget::testkit::components`]). Run with
//! `cargo run --example make_new_component_samples`.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    msp_retarget::testkit::components::write_samples(&dir)?;
    for name in ["new-component.msp", "new-component-product.msi"] {
        println!("wrote {}", dir.join(name).display());
    }
    Ok(())
}
