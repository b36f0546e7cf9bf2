// prd: only what differs from jsonnet/base.libsonnet. All ids below are placeholders.
// prd hosts have no prefix: grafana.example.com, prometheus.example.com, ...
((import '../jsonnet/base.libsonnet') + {
  config+:: {
    env: 'prd',
    domain: 'example.com',
    alb+: {
      subnets: ['subnet-0123456789abcdef6', 'subnet-0123456789abcdef7', 'subnet-0123456789abcdef8'],
      certificateArn: 'arn:aws:acm:ap-northeast-1:123456789012:certificate/22222222-2222-2222-2222-222222222222',
      cognito: {
        userPoolArn: 'arn:aws:cognito-idp:ap-northeast-1:123456789012:userpool/ap-northeast-1_EXAMPLE',
        userPoolClientId: 'exampleclientid0prd',
        userPoolDomain: 'example-prd',
      },
      allowFromCidrs: ['10.30.0.0/16'],
    },
    grafana+: {
      securityGroups: ['sg-0123456789abcdef6'],
      github+: { clientId: 'example-github-client-id-prd', allowedOrganizations: 'example-org' },
    },
    alertmanager+: {
      securityGroups: ['sg-0123456789abcdef7'],
      slack+: {
        critical: { channel: '#prom-alert-critical' },
        warning: { channel: '#prom-alert-warning' },
        watchdog: { channel: '#prom-alert-watchdog' },
      },
    },
    prometheus+: {
      securityGroups: ['sg-0123456789abcdef8'],
      storage+: { retention: '30d', retentionSize: '90GB', size: '100Gi' },
    },
  },
}).build()
