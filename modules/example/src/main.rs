fn main() {
    module_runtime::main::<example::Example>()
}
