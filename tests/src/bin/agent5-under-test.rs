//! The `agent5` entry point, built inside the test package so integration tests get
//! its path from Cargo (`CARGO_BIN_EXE_agent5-under-test`). Same code as the binary.

fn main() -> std::process::ExitCode {
    agent5_proxy::cli::main()
}
