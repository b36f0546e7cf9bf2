// Alertmanager routing for the stack: Slack per severity, a silenced set, a Watchdog channel.
//
// Why a helper: routing is the part most likely to be wrong silently. The seed routed
// `severity: error` (which no rule uses), so critical alerts only reached Slack through the
// root fallback and info alerts would land in the critical channel (B1). This file is
// evaluated on its own by tests/test_stack_libs.py, without kube-prometheus.
//
// Usage:
//   local am = import 'lib/alertmanager.libsonnet';
//   am.config(cfg, function(level) { api_url_file: '/etc/alertmanager/secrets/slack/' + level })
// where cfg = { slack: { critical: { channel }, warning: { channel }, watchdog: { channel } },
//               silencedAlerts: [...] }.
{
  receivers:: {
    critical: 'slack-critical',
    warning: 'slack-warning',
    watchdog: 'slack-watchdog',
    silent: 'silent-receiver',
  },

  // Alerts that fire by design or are too noisy to page anyone; InfoInhibitor only exists to
  // inhibit info alerts (it has severity none) and must not reach a channel either.
  defaultSilencedAlerts:: ['KubeCPUOvercommit', 'CPUThrottlingHigh', 'KubeVersionMismatch', 'InfoInhibitor'],

  // 137 of 138 v0.18.0 alerts carry summary+description; GrafanaRequestsFailing still uses
  // `message`, hence the fallback.
  slackTitle:: '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }}',
  slackText:: |||
    {{ range .Alerts }}
    *Summary:* {{ if .Annotations.summary }}{{ .Annotations.summary }}{{ else }}{{ .Annotations.message }}{{ end }}
    *Description:* {{ .Annotations.description }}
    *Graph:* <{{ .GeneratorURL }}|:chart_with_upwards_trend:> *Runbook:* <{{ .Annotations.runbook_url }}|:spiral_note_pad:>
    *Details:*
    {{ range .Labels.SortedPairs }}  *{{ .Name }}:* `{{ .Value }}`
    {{ end }}
    {{ end }}
  |||,

  regexAlternation(names):: std.join('|', names),

  routes(cfg):: [
    { receiver: $.receivers.watchdog, matchers: ['alertname = Watchdog'] },
  ] + (if std.length(cfg.silencedAlerts) > 0 then [{
         receiver: $.receivers.silent,
         matchers: ['alertname =~ "%s"' % $.regexAlternation(cfg.silencedAlerts)],
       }] else []) + [
    { receiver: $.receivers.critical, matchers: ['severity = critical'] },
    { receiver: $.receivers.warning, matchers: ['severity =~ "warning|info"'] },
  ],

  slackReceiver(name, level, slack, urlFor):: {
    name: name,
    slack_configs: [urlFor(level) + {
      channel: slack[level].channel,
      send_resolved: true,
      title: $.slackTitle,
      text: $.slackText,
    }],
  },

  // Upstream kube-prometheus inhibit rules: critical silences warning/info, warning silences
  // info (same namespace and alertname), InfoInhibitor silences info in its namespace.
  inhibitRules:: [{
    source_matchers: ['severity = critical'],
    target_matchers: ['severity =~ "warning|info"'],
    equal: ['namespace', 'alertname'],
  }, {
    source_matchers: ['severity = warning'],
    target_matchers: ['severity = info'],
    equal: ['namespace', 'alertname'],
  }, {
    source_matchers: ['alertname = InfoInhibitor'],
    target_matchers: ['severity = info'],
    equal: ['namespace'],
  }],

  // urlFor(level) returns the Slack URL part of a slack_config: {api_url: ...} (inline
  // secrets) or {api_url_file: ...} (mounted Secret); level is critical, warning or watchdog.
  config(cfg, urlFor)::
    local c = { silencedAlerts: $.defaultSilencedAlerts } + cfg;
    {
      global: { resolve_timeout: '5m' },
      inhibit_rules: $.inhibitRules,
      route: {
        group_by: ['namespace', 'alertname'],
        group_wait: '10s',
        group_interval: '5m',
        repeat_interval: '30m',
        // Catch-all: anything unmatched (e.g. a new severity) pages rather than vanishes.
        receiver: $.receivers.critical,
        routes: $.routes(c),
      },
      receivers: [
        $.slackReceiver($.receivers[level], level, c.slack, urlFor)
        for level in ['critical', 'warning', 'watchdog']
      ] + [{ name: $.receivers.silent }],
    },
}
