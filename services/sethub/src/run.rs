//! Starting the services and commands chosen on the command line.

use std::net::TcpListener;
use std::sync::Arc;

use anyhow::{Context, bail};
use sethub_app::{AppContext, RouteFn, connect_backends, serve};
use sethub_config::Config;
use url::Url;

use crate::cli::{Cli, Command};

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Probe { url } = &cli.command {
        return probe(url).await;
    }
    let config = Config::load(cli.config.as_deref())?;
    // Admin commands print JSON on stdout, where the log would go: they log nothing.
    if !crate::admin_cli::is_admin(&cli.command) {
        sethub_telemetry::init_logging(
            config.log.format == sethub_config::LogFormat::Json,
            &config.log.filter,
        );
    }
    match cli.command {
        Command::All => {
            serve_services(
                config,
                "all",
                &[Service::Ingest, Service::Fanout, Service::Manage],
            )
            .await
        }
        Command::Ingest => serve_services(config, "ingest", &[Service::Ingest]).await,
        Command::Fanout => serve_services(config, "fanout", &[Service::Fanout]).await,
        Command::Manage => serve_services(config, "manage", &[Service::Manage]).await,
        Command::Migrate => migrate(config).await,
        Command::Probe { .. } => Ok(()),
        Command::Tenant(c) => crate::admin_cli::tenant(config, c).await,
        Command::Receiver(c) => crate::admin_cli::receiver(config, c).await,
        Command::Key(c) => crate::admin_cli::key(config, c).await,
        Command::Apikey(c) => crate::admin_cli::apikey(config, c).await,
        Command::Upstream(c) => crate::admin_cli::upstream(config, c).await,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    Ingest,
    Fanout,
    Manage,
}

async fn serve_services(
    config: Config,
    name: &'static str,
    services: &[Service],
) -> anyhow::Result<()> {
    let backends = config.backends();
    if services.len() == 1 && (!backends.rabbitmq || !backends.postgres) {
        bail!(
            "`sethub {name}` runs one service of a multi-process deployment, which needs shared \
             backends: set database.url (PostgreSQL) and bus.url (RabbitMQ), or run `sethub all`"
        );
    }
    // The certificate is checked before the port is taken and anything is announced.
    let tls = sethub_app::load_tls(&config)?;
    let listener = TcpListener::bind(&config.server.listen)
        .with_context(|| format!("cannot listen on {} (server.listen)", config.server.listen))?;
    let local = listener
        .local_addr()
        .context("cannot read the bound address")?;
    let public_url = match &config.server.public_url {
        Some(url) => url.clone(),
        None => {
            let scheme = if tls.is_some() { "https" } else { "http" };
            Url::parse(&format!("{scheme}://{local}")).context("bound address is not a URL")?
        }
    };
    // Spans are made and exported only with telemetry.otlp_endpoint; the guard flushes the
    // last ones when the process ends.
    let _tracing = match &config.telemetry.otlp_endpoint {
        Some(endpoint) => Some(
            sethub_telemetry::trace::init_tracing(endpoint, name)
                .context("cannot start tracing (telemetry.otlp_endpoint)")?,
        ),
        None => None,
    };
    let ctx = connect_backends(config, public_url.clone(), true).await?;
    let mut signals = crate::shutdown::Signals::install();
    announce(&ctx, name, local, services.contains(&Service::Manage));
    // Fan-out's consumers and push workers run beside its HTTP routes.
    let fanout = if services.contains(&Service::Fanout) {
        Some(sethub_fanout::start(ctx.clone()).context("cannot start fan-out")?)
    } else {
        None
    };
    // The process serving `ingest` polls the tenants' upstream poll subscriptions.
    if services.contains(&Service::Ingest) {
        sethub_ingest::upstream::poller::spawn(ctx.clone());
    }
    // The process serving `manage` keeps the tenants' upstream subscriptions alive.
    if services.contains(&Service::Manage) {
        sethub_app::upstream_rx::watch::spawn(ctx.clone());
    }
    let console = sethub_manage::web::ConsoleSettings::new(&ctx)?;
    let routes: Vec<RouteFn> = services
        .iter()
        .map(|s| -> RouteFn {
            match s {
                Service::Ingest => Arc::new(sethub_ingest::routes),
                Service::Fanout => Arc::new(sethub_fanout::routes),
                Service::Manage => Arc::new(sethub_manage::routes_with_console(console.clone())),
            }
        })
        .collect();
    let server =
        serve(ctx.clone(), listener, name, routes, tls).context("cannot start the HTTP server")?;
    let handle = server.handle();
    let mut server = tokio::spawn(server);
    tokio::select! {
        ended = &mut server => {
            ended.context("the HTTP server panicked")?.context("the HTTP server failed")?;
        }
        () = signals.recv() => {
            crate::shutdown::graceful(&ctx, handle, fanout).await;
        }
    }
    tracing::info!("stopped");
    Ok(())
}

fn announce(ctx: &AppContext, name: &str, local: std::net::SocketAddr, manage: bool) {
    let b = ctx.config.backends();
    if b.is_embedded() {
        println!(
            "sethub {name}: embedded mode (SQLite in {}, in-process bus, in-memory state) - for \
             trying and developing, not for production",
            ctx.config.data_dir.display()
        );
    } else {
        println!(
            "sethub {name}: database {}, bus {}, state {}",
            if b.postgres { "PostgreSQL" } else { "SQLite" },
            if b.rabbitmq { "RabbitMQ" } else { "in-process" },
            if b.redis { "Redis" } else { "in-memory" },
        );
    }
    if manage {
        println!(
            "sethub {name}: web console at {}, receiver portal at {}",
            ctx.url("/console"),
            ctx.url("/portal")
        );
    }
    println!(
        "sethub {name}: listening on {local}, public URL {}",
        ctx.public_url
    );
    tracing::info!(service = name, %local, public_url = %ctx.public_url, "listening");
}

async fn migrate(config: Config) -> anyhow::Result<()> {
    // Only the database: as `database.migrate_url`'s role when set (then the runtime role of
    // `database.url` gets its grants), else as `database.url`'s.
    sethub_app::migrate_database(&config).await?;
    println!("sethub migrate: the database is at the latest schema");
    Ok(())
}

async fn probe(url: &str) -> anyhow::Result<()> {
    // The operator's own probe of a sethub process (usually on loopback, plain HTTP): through
    // the egress gate like every outbound request, with private targets and http allowed.
    let policy = sethub_egress::EgressPolicy {
        allow_private: true,
        allowed_networks: Vec::new(),
        allow_http: true,
    };
    let client = policy
        .client(&sethub_egress::ClientOptions {
            request_timeout: std::time::Duration::from_secs(3),
            ..Default::default()
        })
        .context("cannot build an HTTP client")?;
    let answer = client
        .get(url)
        .send_truncating()
        .await
        .with_context(|| format!("GET {url} failed"))?;
    if !answer.status.is_success() {
        bail!("GET {url} answered {}", answer.status);
    }
    Ok(())
}
