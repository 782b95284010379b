//! A real server per test: `spawn_app` boots it on 127.0.0.1:0 with a fresh database (SQLite, or
//! its own PostgreSQL database when `TEST_DATABASE_URL` is set, dropped when the test ends).

use server::app::App;
use server::config::Config;

/// Which database this run uses: `TEST_DATABASE_URL` (a PostgreSQL server URL) or SQLite.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
}

/// The PostgreSQL server URL, for a test that only makes sense there. Such tests sit in a
/// module `pg_only` with `#[ignore = "needs PostgreSQL …"]`, so a SQLite run lists them as
/// ignored instead of passing them silently; run with `--ignored` but without a PostgreSQL
/// server, they fail here instead of passing.
pub fn require_postgres() -> String {
    postgres_admin_url().expect("this test needs TEST_DATABASE_URL=postgres://…")
}

/// A fresh, empty database URL for one test.
pub async fn fresh_database() -> String {
    let n: u64 = rand::random();
    match postgres_admin_url() {
        Some(admin) => {
            use sqlx::Connection;
            let name = format!("test_{n:016x}");
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .expect("connect to TEST_DATABASE_URL");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create test database");
            let base = admin
                .rsplit_once('/')
                .map_or(admin.as_str(), |(b, _)| b)
                .to_owned();
            format!("{base}/{name}")
        }
        None => {
            let dir = std::env::temp_dir().join("todo-server-tests");
            std::fs::create_dir_all(&dir).expect("temp dir");
            format!("sqlite://{}/{n:016x}.db?mode=rwc", dir.display())
        }
    }
}

pub struct TestApp {
    pub app: App,
    pub url: String,
    pub database_url: String,
    /// Drops the test's PostgreSQL database when the test ends (only on the app that made it).
    _db: Option<DropDatabase>,
}

/// Drops a per-test PostgreSQL database (`WITH (FORCE)`, which ends leftover connections).
pub struct DropDatabase {
    admin: String,
    name: String,
}

impl Drop for DropDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs inside the test's runtime: do the async work on a thread of its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Boots the server with test defaults.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Boots the server after `tweak` changes the test configuration.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let database_url = fresh_database().await;
    let mut app = spawn_on(&database_url, tweak).await;
    app._db = postgres_admin_url().map(|admin| DropDatabase {
        admin,
        name: database_url
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned(),
    });
    app
}

/// Boots a server on an existing database (a second instance, or a restart).
pub async fn spawn_on(database_url: &str, tweak: impl FnOnce(&mut Config)) -> TestApp {
    if std::env::var_os("TEST_LOG").is_some() {
        server::telemetry::init_for_tests();
    }
    let mut config = Config::for_tests(database_url);
    tweak(&mut config);
    let app = App::spawn(config).await.expect("server starts");
    let url = app.url();
    TestApp {
        app,
        url,
        database_url: database_url.to_owned(),
        _db: None,
    }
}

impl TestApp {
    pub fn ws_url(&self) -> String {
        format!("{}/ws", self.url.replacen("http", "ws", 1))
    }
}
