fn main() {
    module_runtime::main::<socket_group::SocketGroup>()
}
