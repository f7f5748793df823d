//! What an installed tool offers: shell completions and man pages.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pcapstat"))
        .args(args)
        .output()
        .expect("run pcapstat")
}

#[test]
fn bash_loads_the_completion_script() {
    let out = run(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    let script = String::from_utf8(out.stdout).unwrap();
    for command in [
        "analyze",
        "check",
        "diff",
        "figures",
        "--parquet",
        "--keylog",
    ] {
        assert!(script.contains(command), "{command} missing");
    }
    // A real bash sources it and registers the completion of `pcapstat`.
    let dir = std::env::temp_dir().join(format!("pcapstat-completions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pcapstat.bash");
    std::fs::write(&file, &script).unwrap();
    let bash = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}' && complete -p pcapstat",
            file.display()
        ))
        .output()
        .expect("run bash");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(bash.status.success(), "{bash:?}");
    assert!(String::from_utf8_lossy(&bash.stdout).contains("_pcapstat"));
}

#[test]
fn completions_for_other_shells() {
    for (shell, mark) in [
        ("zsh", "#compdef pcapstat"),
        ("fish", "complete -c pcapstat"),
    ] {
        let out = run(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(mark),
            "{shell}"
        );
    }
    assert_eq!(run(&["completions", "nosuchshell"]).status.code(), Some(2));
}

#[test]
fn man_pages_of_the_tool_and_its_commands() {
    let out = run(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH pcapstat 1"), "{page}");
    for command in ["analyze", "check", "diff", "figures"] {
        assert!(page.contains(command), "{command} missing");
        let out = run(&["man", command]);
        assert_eq!(out.status.code(), Some(0));
        let page = String::from_utf8(out.stdout).unwrap();
        assert!(
            page.contains(&format!(".TH pcapstat-{command} 1")),
            "{page}"
        );
    }
    let analyze = String::from_utf8(run(&["man", "analyze"]).stdout).unwrap();
    assert!(analyze.contains("parquet"));
    let out = run(&["man", "nosuchcommand"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no command `nosuchcommand`"));
}
