//! moto's S3 server (`moto[server]` from PyPI) on 127.0.0.1, with its request recorder on, so a
//! test can see exactly which listings janus-audit made. The server comes from
//! `JANUS_MOTO_SERVER`, else the interop venv `.ci/run` makes (created here when missing).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    pub url: String,
    child: Child,
    recording: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server() -> PathBuf {
    if let Ok(p) = std::env::var("JANUS_MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let venv = dirs_home().join(".cache/janus-audit-interop-venv");
    let bin = venv.join("bin/moto_server");
    if !bin.exists() {
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap()
            .success()
            && Command::new(venv.join("bin/pip"))
                .args(["install", "--quiet", "awscli", "boto3", "moto[server]"])
                .status()
                .unwrap()
                .success();
        if !ok {
            panic!(
                "\n\ncargo test runs moto's S3 and STS server, the AWS CLI and boto3 from PyPI, in the venv {}, and could not install them there (is PyPI reachable?).\nPrepare the venv ahead of time with `bash tests/interop/prepare_venv.sh`, or name a moto_server with JANUS_MOTO_SERVER.\n",
                venv.display()
            );
        }
    }
    bin
}

fn dirs_home() -> PathBuf {
    PathBuf::from(std::env::var("HOME").expect("HOME"))
}

impl Moto {
    pub fn start() -> Moto {
        let dir = tempfile::tempdir().unwrap();
        let recording = dir.path().join("recording.jsonl");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(server())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ENABLE_RECORDING", "1")
            .env("MOTO_RECORDER_FILEPATH", &recording)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "moto did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            url,
            child,
            recording,
            _dir: dir,
        }
    }

    /// Every request recorded so far: (method, URL path and query).
    pub fn requests(&self) -> Vec<(String, String)> {
        std::fs::read_to_string(&self.recording)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| {
                (
                    v["method"].as_str().unwrap_or("").to_string(),
                    v["url"].as_str().unwrap_or("").to_string(),
                )
            })
            .collect()
    }
}
