fn main() {
    module_runtime::main::<docker_prune::DockerPrune>()
}
