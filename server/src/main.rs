use server::cli::Run;
use server::config::Config;

/// mimalloc rather than the system allocator: every request allocates and frees a little, and
/// with glibc's malloc that was an eighth of the server's CPU time per ping (`perf`, ping bench).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = match server::cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match cli.into_run() {
        Run::Serve(config) => serve(*config).await,
        Run::Client(command) => server::cli::run(command).await,
    }
}

async fn serve(config: Config) -> std::process::ExitCode {
    server::observability::logging::init(config.observability.log_format);
    tracing::info!(settings = %config.describe(), "starting baton");
    let running = match server::startup::start(config).await {
        Ok(running) => running,
        Err(err) => {
            eprintln!("baton could not start: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Some(password) = &running.generated_admin_password {
        // Printed once, to the terminal only: it is not kept anywhere but as an argon2 hash.
        println!("Created user 'admin' with password: {password}");
        println!("(set BATON_ADMIN_PASSWORD before the first start to choose it)");
    }
    println!("Baton is listening on http://{}", running.addr);
    let password = running.generated_admin_password.as_deref();
    if let Some(welcome) = server::welcome::welcome(running.addr, running.demo, password) {
        println!("{welcome}");
    }
    match running.task.await {
        Ok(Ok(())) => std::process::ExitCode::SUCCESS,
        Ok(Err(err)) => {
            eprintln!("server stopped: {err}");
            std::process::ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("server task failed: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}
