//! The `baton` command line: `baton` (or `baton serve`) runs the server; the other subcommands
//! are a client of a Baton server's JSON API (schedulers, rooms, operations, allocations,
//! users, imports from Maestro and zeuz), with connection profiles, table/JSON/YAML output and exit
//! codes scripts can rely on (see [`ExitCode`]).

pub mod allocate;
pub mod connection;
pub mod error;
pub mod import;
pub mod maestro_v9;
pub mod operations;
pub mod output;
pub mod rooms;
pub mod schedulers;
pub mod users;

use clap::{Parser, Subcommand};

use crate::config::Config;
pub use connection::Connection;
pub use error::{CliError, ExitCode};

/// Baton: a game-room orchestrator. Without a subcommand (or with `serve`) it runs the
/// server; the other subcommands talk to a running Baton over its JSON API.
#[derive(Parser, Debug)]
#[command(
    name = "baton",
    bin_name = "baton",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (the default).
    Serve(Box<Config>),
    /// Check the credentials and store a connection profile (the password only with
    /// `--save-password`).
    Login(connection::LoginArgs),
    /// Schedulers: list, read, create, apply, version and delete them.
    Schedulers {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: schedulers::SchedulersCommand,
    },
    /// A scheduler's game rooms.
    Rooms {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: rooms::RoomsCommand,
    },
    /// A scheduler's operations: list, read, follow until done, cancel.
    Operations {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: operations::OperationsCommand,
    },
    /// Claim a ready room of a scheduler for a match (`POST /schedulers/{name}/allocations`).
    Allocate {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        args: allocate::AllocateArgs,
    },
    /// Users (administrators only): list, read, create, change, delete.
    Users {
        #[command(flatten)]
        connection: Connection,
        #[command(subcommand)]
        command: users::UsersCommand,
    },
    /// Release an allocation claim before its TTL.
    Release {
        #[command(flatten)]
        connection: Connection,
        /// The scheduler.
        scheduler: String,
        /// The claim id `allocate` answered.
        claim: String,
    },
    /// Create a scheduler from a Maestro v10 JSON/YAML file, a Maestro v9 YAML file or a zeuz
    /// AllocationDef JSON file, as they are.
    Import {
        #[command(flatten)]
        connection: Connection,
        #[command(flatten)]
        args: import::ImportArgs,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
}

/// What `main` does with the command line.
pub enum Run {
    Serve(Box<Config>),
    Client(Box<Command>),
}

impl Cli {
    /// The server's configuration, or the client command to run.
    pub fn into_run(self) -> Run {
        match self.command {
            None => Run::Serve(Box::new(self.config)),
            Some(Command::Serve(config)) => Run::Serve(config),
            Some(other) => Run::Client(Box::new(other)),
        }
    }
}

/// Parses the command line: usage errors exit with [`ExitCode::Usage`], `--help` and
/// `--version` with 0.
pub fn parse() -> Result<Cli, std::process::ExitCode> {
    Cli::try_parse().map_err(|err| {
        let _ = err.print();
        if err.use_stderr() {
            ExitCode::Usage.into()
        } else {
            std::process::ExitCode::SUCCESS
        }
    })
}

/// Runs a client command, printing its answer on stdout and any error on stderr.
pub async fn run(command: Box<Command>) -> std::process::ExitCode {
    match dispatch(*command).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            err.print();
            err.exit_code().into()
        }
    }
}

async fn dispatch(command: Command) -> Result<(), CliError> {
    match command {
        Command::Serve(_) => Err(CliError::Input("serve is not a client command".into())),
        Command::Login(args) => connection::login(args).await,
        Command::Schedulers {
            connection,
            command,
        } => schedulers::run(&connection, command).await,
        Command::Rooms {
            connection,
            command,
        } => rooms::run(&connection, command).await,
        Command::Operations {
            connection,
            command,
        } => operations::run(&connection, command).await,
        Command::Allocate { connection, args } => allocate::run(&connection, args).await,
        Command::Release {
            connection,
            scheduler,
            claim,
        } => allocate::release(&connection, &scheduler, &claim).await,
        Command::Users {
            connection,
            command,
        } => users::run(&connection, command).await,
        Command::Import { connection, args } => import::run(&connection, args).await,
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut command, "baton", &mut std::io::stdout());
            Ok(())
        }
    }
}
