"""Running a pipeline in production: configuration files and profiles, schedules,
alerts and the heartbeat. Above the workspace (it runs commands over one), below the
command line (which parses arguments and renders what these return)."""
