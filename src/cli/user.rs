//! `lectern user add`: accounts from the command line (the first admin, scripted cohorts).

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use crate::auth::{self, password};
use crate::config::UserAddArgs;
use crate::db;

/// Creates the account; prints a generated password once when none was piped in.
pub async fn add(args: UserAddArgs) -> ExitCode {
    let stdin = std::io::stdin();
    let (password, generated) = if stdin.is_terminal() {
        (password::generate(), true)
    } else {
        let mut line = String::new();
        if let Err(e) = stdin.lock().read_line(&mut line) {
            eprintln!("error: cannot read the password from standard input: {e}");
            return ExitCode::FAILURE;
        }
        (line.trim_end_matches(['\r', '\n']).to_owned(), false)
    };
    let pool = match db::open(&args.db.path()).await {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = auth::create_account(
        &pool,
        &auth::Hasher::default(),
        &args.name,
        args.role,
        &password,
        args.cohort.as_deref(),
    )
    .await;
    pool.close().await;
    match result {
        Ok(user) => {
            println!("created {} `{}`", user.role.as_str(), user.username);
            if generated {
                println!("password (shown only now): {password}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
