//! The `agent5` binary: parse the command line, run the appliance.

fn main() -> std::process::ExitCode {
    agent5_proxy::cli::main()
}
