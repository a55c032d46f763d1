//! `lectern user …`: accounts from the command line (the first admin, scripted cohorts, and the
//! same lifecycle admins have in the browser: list, reset a password, role and cohort, deactivate).

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use crate::auth::Account;
use crate::auth::accounts;
use crate::auth::{self, AuthError, password};
use crate::config::{UserAddArgs, UserCommand};
use crate::db;

/// Creates the account; prints a generated password once when none was piped in. With
/// `--oidc-subject`, the account is linked to that identity at the provider instead and has no
/// password.
async fn add(args: UserAddArgs) -> ExitCode {
    let password = match &args.oidc_subject {
        Some(_) => None,
        None => match read_or_generate_password() {
            Ok(password) => Some(password),
            Err(e) => {
                eprintln!("error: cannot read the password from standard input: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let pool = match db::open(&args.db.location()).await {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let hasher = auth::Hasher::default();
    let cohort = args.cohort.as_deref();
    let result = match (&password, &args.oidc_subject, &args.oidc_issuer) {
        (Some((password, _)), _, _) => {
            auth::create_account(
                &pool,
                &hasher,
                &args.name,
                args.role,
                password,
                cohort,
                auth::Origin::Cli,
            )
            .await
        }
        (None, Some(subject), Some(issuer)) => {
            auth::identity::create_linked_account(
                &pool,
                &hasher,
                &args.name,
                args.role,
                cohort,
                &auth::IdentityKey::single_sign_on(issuer, subject),
            )
            .await
        }
        (None, _, _) => Err(AuthError::InvalidUsername(
            "--oidc-subject needs the provider's issuer: --oidc-issuer or LECTERN_OIDC_ISSUER"
                .to_owned(),
        )),
    };
    pool.close().await;
    match result {
        Ok(user) => {
            println!("created {} `{}`", user.role.as_str(), user.username);
            match (&password, &args.oidc_subject) {
                (Some((password, true)), _) => println!("password (shown only now): {password}"),
                (None, Some(subject)) => {
                    println!("signs in through the identity provider as subject `{subject}`")
                }
                _ => {}
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The password piped in, or a generated one (`true`: print it) when standard input is a
/// terminal or gives nothing: `kubectl exec` without `-i`, cron, a CI job.
fn read_or_generate_password() -> std::io::Result<(String, bool)> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok((password::generate(), true));
    }
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    let piped = line.trim_end_matches(['\r', '\n']);
    if piped.is_empty() {
        return Ok((password::generate(), true));
    }
    Ok((piped.to_owned(), false))
}

/// `lectern user …`: every subcommand.
pub async fn execute(command: UserCommand) -> ExitCode {
    let db = match &command {
        UserCommand::Add(args) => return add(args.clone()).await,
        UserCommand::List { db } => db,
        UserCommand::ResetPassword(args)
        | UserCommand::Deactivate(args)
        | UserCommand::Reactivate(args) => &args.db,
        UserCommand::Set(args) => &args.db,
    };
    let pool = match db::open(&db.location()).await {
        Ok(pool) => pool,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = run(&pool, command).await;
    pool.close().await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(pool: &sqlx::AnyPool, command: UserCommand) -> Result<(), AuthError> {
    match command {
        UserCommand::Add(_) => unreachable!("`execute` runs `add` before opening the database"),
        UserCommand::List { .. } => {
            println!(
                "{:<24} {:<10} {:<16} {:<22} state",
                "user", "role", "cohort", "last sign-in"
            );
            for a in accounts::list(pool).await? {
                println!(
                    "{:<24} {:<10} {:<16} {:<22} {}",
                    a.username,
                    a.role.as_str(),
                    a.cohort.as_deref().unwrap_or("-"),
                    a.last_sign_in.as_deref().map_or("never", short_time),
                    a.deactivated.as_deref().map_or_else(
                        || "active".to_owned(),
                        |t| format!("deactivated {}", short_time(t))
                    )
                );
            }
        }
        UserCommand::ResetPassword(args) => {
            let account = accounts::find_by_name(pool, &args.name).await?;
            let generated =
                accounts::reset_password(pool, &auth::Hasher::default(), account.learner_id)
                    .await?;
            println!(
                "reset the password of `{}`; their sessions have ended",
                account.username
            );
            println!("password (shown only now): {generated}");
        }
        UserCommand::Set(args) => {
            let account = accounts::find_by_name(pool, &args.name).await?;
            let role = args.role.unwrap_or(account.role);
            let cohort = args.cohort.as_deref().or(account.cohort.as_deref());
            let updated = accounts::update(pool, account.learner_id, role, cohort).await?;
            println!("{}", describe(&updated));
        }
        UserCommand::Deactivate(args) => {
            let account = accounts::find_by_name(pool, &args.name).await?;
            let updated = accounts::deactivate(pool, account.learner_id).await?;
            println!("{}; their sessions have ended", describe(&updated));
        }
        UserCommand::Reactivate(args) => {
            let account = accounts::find_by_name(pool, &args.name).await?;
            let updated = accounts::reactivate(pool, account.learner_id).await?;
            println!("{}", describe(&updated));
        }
    }
    Ok(())
}

/// `ada: learner, cohort spring, active`.
fn describe(account: &Account) -> String {
    format!(
        "{}: {}, {}, {}",
        account.username,
        account.role.as_str(),
        account
            .cohort
            .as_deref()
            .map_or_else(|| "no cohort".to_owned(), |c| format!("cohort {c}")),
        if account.is_active() {
            "active"
        } else {
            "deactivated"
        }
    )
}

/// `2026-11-25T18:37:24.123Z` → `2026-11-25T18:37` (UTC).
fn short_time(stamp: &str) -> &str {
    stamp.get(..16).unwrap_or(stamp)
}
