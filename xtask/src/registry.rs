//! The modules of the workspace. Adding a module means adding one line here.

use serde_json::Value;

pub struct ModuleEntry {
    /// The module name (last part of the FQCN, file name under plugins/modules).
    pub name: &'static str,
    /// The cargo package that builds its binary.
    pub crate_name: &'static str,
    /// False for test-only modules, which are built but never copied into the collection.
    pub shipped: bool,
    pub describe: fn() -> Value,
}

pub const MODULES: &[ModuleEntry] = &[
    ModuleEntry {
        name: "example",
        crate_name: "example",
        shipped: false,
        describe: module_runtime::describe::<example::Example>,
    },
    ModuleEntry {
        name: "docker_prune",
        crate_name: "docker_prune",
        shipped: true,
        describe: module_runtime::describe::<docker_prune::DockerPrune>,
    },
    ModuleEntry {
        name: "socket_group",
        crate_name: "socket_group",
        shipped: true,
        describe: module_runtime::describe::<socket_group::SocketGroup>,
    },
    ModuleEntry {
        name: "docker_install",
        crate_name: "docker_install",
        shipped: true,
        describe: module_runtime::describe::<docker_install::DockerInstall>,
    },
];
