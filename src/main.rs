use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // kube and reqwest both bring rustls; name the one crypto provider.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = scangate::cli::Cli::parse();
    match scangate::cli::run(cli).await {
        Ok(code) => std::process::ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            eprintln!("scangate: {err:#}");
            std::process::ExitCode::from(scangate::cli::EXIT_ERROR as u8)
        }
    }
}
