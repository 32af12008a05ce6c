//! Write easel plugins in Rust.
//!
//! A plugin is a function from a [`Context`] (its parameters, the school it
//! runs for, whether it is a dry run) to a result. It reaches Canvas only
//! through [`canvas`], whose calls the host checks against the plugin's
//! grant and sends with the institution's token, which the plugin never
//! sees. Reports go to the run's output folder through [`report`].
//!
//! ```ignore
//! use easel_sdk::{Context, Result, canvas, models::Course, report::Csv};
//!
//! fn run(cx: &Context) -> Result<()> {
//!     let mut csv = Csv::create("courses.csv", &["id", "name"])?;
//!     for course in canvas::list::<Course>(&format!("/api/v1/accounts/{}/courses", cx.school_id()), &[]) {
//!         let course = course?;
//!         csv.row(&[&course.id.to_string(), &course.name])?;
//!     }
//!     Ok(())
//! }
//! easel_sdk::plugin!(run);
//! ```

/// Raw bindings generated from the `easel:canvas` WIT package.
#[allow(missing_docs, clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "easel:canvas/plugin",
        pub_export_macro: true,
        default_bindings_module: "easel_sdk::bindings",
        export_macro_name: "export_run",
    });
}

pub mod canvas;
mod context;
mod error;
pub mod log;
pub mod models;
pub mod report;

pub use context::Context;
pub use error::{CanvasError, Error, Result};

/// Export `fn run(&Context) -> Result<()>` as the plugin's entry point.
#[macro_export]
macro_rules! plugin {
    ($run:path) => {
        struct __EaselPlugin;
        impl $crate::bindings::Guest for __EaselPlugin {
            fn run() -> ::core::result::Result<(), ::std::string::String> {
                let cx = $crate::Context::load();
                $run(&cx).map_err(|e| e.to_string())
            }
        }
        $crate::bindings::export_run!(__EaselPlugin with_types_in $crate::bindings);
    };
}
