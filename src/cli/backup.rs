//! `lectern backup PATH`: a consistent copy of the live database.

use std::process::ExitCode;

use crate::config::BackupArgs;
use crate::db;

/// Writes the copy and says where; a failure says why and exits 1.
pub async fn execute(args: BackupArgs) -> ExitCode {
    let source = args.db.location();
    match db::backup(&source, &args.target).await {
        Ok(()) => {
            println!("backed up {} to {}", source, args.target.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
