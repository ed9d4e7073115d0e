fn main() {
    module_runtime::main::<docker_install::DockerInstall>()
}
