//! `yiyang`: the platform binary. Without a subcommand it serves the web UI and API.

use clap::{Parser, Subcommand};
use std::io::Read;
use std::path::PathBuf;
use yiyang::{app, config::Config, seed};
use yiyang_core::{AppError, AppResult, RequestContext};

#[derive(Parser)]
#[command(name = "yiyang", version, about = "梅州智慧医养数字赋能平台")]
struct Cli {
    /// Configuration file (TOML); environment variables override it.
    #[arg(long, global = true, env = "YIYANG_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the platform (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Seed the demo city (once).
    SeedDemo,
    /// Manage accounts.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Key tools.
    Keys {
        #[command(subcommand)]
        cmd: KeysCmd,
    },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// IoT tools: register load-test devices, and a gateway load generator.
    Iot {
        #[command(subcommand)]
        cmd: IotCmd,
    },
    /// Patient master index batch tools (no database needed).
    Mpi {
        #[command(subcommand)]
        cmd: MpiCmd,
    },
}

#[derive(Subcommand)]
enum IotCmd {
    /// Register `gateways` gateways with `tags` bands each (serials LG{g}, LG{g}-{t}) at an
    /// institution, for the load generator.
    Provision {
        #[arg(long, default_value = "MZ-HOSP-01")]
        org: String,
        #[arg(long, default_value_t = 100)]
        gateways: usize,
        #[arg(long, default_value_t = 50)]
        tags: usize,
    },
    /// Publish like real gateways to an MQTT broker (no database needed): each uplink carries
    /// one reading of every tag of the gateway; `--storm` first sends the backlog a gateway
    /// buffered during an outage; SOS events measure the alarm latency.
    Simulate {
        #[arg(long, default_value = "mqtt://127.0.0.1:1883")]
        url: String,
        #[arg(long, default_value = "MZ-HOSP-01")]
        org: String,
        #[arg(long, default_value_t = 100)]
        gateways: usize,
        #[arg(long, default_value_t = 50)]
        tags: usize,
        /// Readings per second in all (0: as fast as the broker takes them).
        #[arg(long, default_value_t = 20000)]
        rate: u64,
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Minutes of buffered readings each gateway flushes at start (a reconnect storm).
        #[arg(long, default_value_t = 0)]
        storm_minutes: u64,
        /// SOS presses per second across the city (for the alarm latency).
        #[arg(long, default_value_t = 2.0)]
        sos_per_second: f64,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Print the table of every setting (file key, environment variable, default) as markdown.
    Docs,
}

#[derive(Subcommand)]
enum MpiCmd {
    /// Link two files: one output row per linked or review pair.
    Link {
        #[arg(long)]
        left: PathBuf,
        #[arg(long)]
        right: PathBuf,
        /// Column mapping and model configuration (TOML), e.g. examples/mpi/febrl.toml.
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Find duplicates within one file.
    Dedupe {
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
}

fn mpi_batch(cmd: MpiCmd) -> AppResult<()> {
    let open = |p: &PathBuf| {
        std::fs::File::open(p)
            .map_err(|e| AppError::validation("mpi.file", format!("无法打开 {}：{e}", p.display())))
    };
    let load = |p: &PathBuf| -> AppResult<yiyang_mpi::MappingConfig> {
        let text = std::fs::read_to_string(p).map_err(|e| {
            AppError::validation("mpi.config", format!("无法读取配置 {}：{e}", p.display()))
        })?;
        yiyang_mpi::MappingConfig::from_toml(&text)
            .map_err(|e| AppError::validation("mpi.config", format!("配置无效：{e}")))
    };
    let create = |p: &PathBuf| {
        std::fs::File::create(p)
            .map(std::io::BufWriter::new)
            .map_err(|e| AppError::validation("mpi.out", format!("无法写入 {}：{e}", p.display())))
    };
    let t = std::time::Instant::now();
    let stats = match cmd {
        MpiCmd::Link {
            left,
            right,
            config,
            out,
        } => yiyang_mpi::link_csv(open(&left)?, open(&right)?, &load(&config)?, create(&out)?),
        MpiCmd::Dedupe { input, config, out } => {
            yiyang_mpi::dedupe_csv(open(&input)?, &load(&config)?, create(&out)?)
        }
    }
    .map_err(|e| AppError::validation("mpi.failed", format!("匹配失败：{e}")))?;
    eprintln!(
        "候选对 {}，关联 {}，待审核 {}，EM 迭代 {}，用时 {:.0} ms",
        stats.n_candidates,
        stats.n_links,
        stats.n_reviews,
        stats.em_iterations,
        t.elapsed().as_secs_f64() * 1e3
    );
    Ok(())
}

#[derive(Subcommand)]
enum UserCmd {
    /// Create an account; the password is read from standard input.
    Create {
        #[arg(long)]
        login: String,
        /// Role code, e.g. platform_admin, org_admin, doctor, nurse, caregiver, pharmacist.
        #[arg(long)]
        role: String,
        /// Institution code (required for institution roles).
        #[arg(long)]
        org: Option<String>,
        /// Display name (defaults to the login).
        #[arg(long)]
        name: Option<String>,
        /// Read the password from standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Set a new password (read from standard input); the user must change it at next login.
    ResetPassword {
        #[arg(long)]
        login: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check the hash chain and name the first broken entry.
    Verify,
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Print a new random 32-byte key (hex).
    Generate,
    /// Re-encrypt every encrypted field under the current data key (after adding a key version).
    Rewrap,
}

fn read_password() -> AppResult<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s)?;
    let p = s.trim_end_matches(['\n', '\r']).to_string();
    if p.is_empty() {
        return Err(AppError::validation(
            "cli.password_empty",
            "标准输入中没有密码",
        ));
    }
    Ok(p)
}

/// mimalloc instead of glibc's malloc: HL7 processing allocates on SQLite's connection
/// thread and frees on the runtime's, glibc's slowest pattern (decision 0010).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("错误：{}（{}）", e.message, e.code);
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> AppResult<std::process::ExitCode> {
    if let Some(Cmd::Iot {
        cmd: IotCmd::Simulate { .. },
    }) = &cli.cmd
    {
        let Some(Cmd::Iot {
            cmd:
                IotCmd::Simulate {
                    url,
                    org,
                    gateways,
                    tags,
                    rate,
                    seconds,
                    storm_minutes,
                    sos_per_second,
                },
        }) = cli.cmd
        else {
            unreachable!("matched above")
        };
        let report = yiyang_iot::loadgen::run(yiyang_iot::loadgen::Plan {
            url,
            org,
            gateways,
            tags,
            rate,
            seconds,
            storm_minutes,
            sos_per_second,
        })
        .await?;
        println!("{report}");
        return Ok(std::process::ExitCode::SUCCESS);
    }
    if let Some(Cmd::Mpi { .. }) = &cli.cmd {
        let Some(Cmd::Mpi { cmd }) = cli.cmd else {
            unreachable!("matched above")
        };
        mpi_batch(cmd)?;
        return Ok(std::process::ExitCode::SUCCESS);
    }
    if let Some(Cmd::Config {
        cmd: ConfigCmd::Docs,
    }) = &cli.cmd
    {
        print!("{}", yiyang::config::docs_table());
        return Ok(std::process::ExitCode::SUCCESS);
    }
    if let Some(Cmd::Keys {
        cmd: KeysCmd::Generate,
    }) = &cli.cmd
    {
        println!("{}", yiyang_platform::crypto::generate_key_hex());
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let cfg = Config::load(cli.config.as_deref())?;
    let registry = app::configured_registry(&cfg)?;
    let clock = app::system_clock();
    let db = app::open_db(&cfg).await?;
    let applied = registry.prepare(&db, clock.now_micros()).await?;
    if !applied.is_empty() {
        tracing::info!(?applied, "migrations applied");
    }
    let platform = app::Platform::start_modules(
        registry,
        db.clone(),
        cfg.keys()?,
        clock.clone(),
        cfg.tls.is_some(),
        cfg.metrics_access.clone(),
    )
    .await;
    let st = platform.state.clone();
    let sys = RequestContext::system(clock.clone(), "cli");
    let code = match cli.cmd.unwrap_or(Cmd::Serve) {
        Cmd::Serve => {
            yiyang::server::serve(&cfg, st.clone()).await?;
            std::process::ExitCode::SUCCESS
        }
        Cmd::Migrate => {
            println!("数据库已是最新（本次应用 {} 个迁移）", applied.len());
            std::process::ExitCode::SUCCESS
        }
        Cmd::SeedDemo => {
            let done = seed::seed_demo(&st).await?;
            seed::seed_demo_channel(&st, cfg.demo_mllp_port).await?;
            println!(
                "{}",
                if done {
                    "示例数据已创建"
                } else {
                    "示例数据已存在，未重复创建"
                }
            );
            std::process::ExitCode::SUCCESS
        }
        Cmd::User {
            cmd:
                UserCmd::Create {
                    login,
                    role,
                    org,
                    name,
                    ..
                },
        } => {
            let org_id = match org {
                Some(code) => Some(
                    db.fetch_optional::<(i64,)>(
                        "SELECT id FROM orgs WHERE code = $1",
                        yiyang_store::args![code.trim().to_uppercase()],
                    )
                    .await?
                    .ok_or_else(|| {
                        AppError::validation("cli.org_missing", format!("机构编码不存在：{code}"))
                    })?
                    .0,
                ),
                None => None,
            };
            let password = read_password()?;
            let input = yiyang_platform::identity::NewAccount {
                display_name: name.unwrap_or_else(|| login.clone()),
                login,
                kind: if matches!(role.as_str(), "elder" | "family") {
                    "resident".into()
                } else {
                    "staff".into()
                },
                org_id,
                phone: String::new(),
                password,
                role,
                must_change_password: false,
            };
            let id = yiyang_platform::identity::create_account(&db, &sys, &input).await?;
            println!("账号已创建（id {id}）");
            std::process::ExitCode::SUCCESS
        }
        Cmd::User {
            cmd: UserCmd::ResetPassword { login, .. },
        } => {
            let (id,): (i64,) = db
                .fetch_optional(
                    "SELECT id FROM accounts WHERE login = $1",
                    yiyang_store::args![login.trim()],
                )
                .await?
                .ok_or_else(|| {
                    AppError::validation("cli.login_missing", format!("账号不存在：{login}"))
                })?;
            let password = read_password()?;
            yiyang_platform::identity::reset_password(&db, &sys, id, &password).await?;
            println!("密码已重置，用户下次登录须修改密码");
            std::process::ExitCode::SUCCESS
        }
        Cmd::Audit {
            cmd: AuditCmd::Verify,
        } => {
            let r = yiyang_platform::audit::verify(&db).await?;
            match r.first_broken {
                None => {
                    println!("审计日志哈希链完整：已校验 {} 条", r.checked);
                    std::process::ExitCode::SUCCESS
                }
                Some((seq, why)) => {
                    println!(
                        "审计日志哈希链断裂：第 {seq} 条记录，{why}（此前 {} 条完好）",
                        r.checked
                    );
                    std::process::ExitCode::from(2)
                }
            }
        }
        Cmd::Keys {
            cmd: KeysCmd::Rewrap,
        } => {
            let n = yiyang::keys::rewrap(&st).await?;
            println!(
                "已用当前密钥（版本 {}）重新加密 {n} 条记录",
                st.keys.current_version()
            );
            std::process::ExitCode::SUCCESS
        }
        Cmd::Iot {
            cmd:
                IotCmd::Provision {
                    org,
                    gateways,
                    tags,
                },
        } => {
            let n = yiyang_iot::simulate::provision(&st, &org, gateways, tags).await?;
            println!("已登记 {n} 台压测设备（{gateways} 个网关，每个 {tags} 个手环）");
            std::process::ExitCode::SUCCESS
        }
        Cmd::Keys {
            cmd: KeysCmd::Generate,
        }
        | Cmd::Config { .. }
        | Cmd::Iot {
            cmd: IotCmd::Simulate { .. },
        }
        | Cmd::Mpi { .. } => unreachable!("handled before the database opens"),
    };
    platform.shutdown().await;
    db.close().await;
    Ok(code)
}
