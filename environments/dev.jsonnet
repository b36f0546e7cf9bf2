// dev: only what differs from jsonnet/base.libsonnet. All ids below are placeholders.
((import '../jsonnet/base.libsonnet') + {
  config+:: {
    env: 'dev',
    domain: 'example.com',
    alb+: {
      subnets: ['subnet-0123456789abcdef0', 'subnet-0123456789abcdef1', 'subnet-0123456789abcdef2'],
      certificateArn: 'arn:aws:acm:ap-northeast-1:123456789012:certificate/00000000-0000-0000-0000-000000000000',
      cognito: {
        userPoolArn: 'arn:aws:cognito-idp:ap-northeast-1:123456789012:userpool/ap-northeast-1_EXAMPLE',
        userPoolClientId: 'exampleclientid0dev',
        userPoolDomain: 'example-dev',
      },
      allowFromCidrs: ['10.10.0.0/16'],
    },
    grafana+: {
      securityGroups: ['sg-0123456789abcdef0'],
      github+: { clientId: 'example-github-client-id-dev', allowedOrganizations: 'example-org' },
    },
    alertmanager+: {
      securityGroups: ['sg-0123456789abcdef1'],
      slack+: {
        critical: { channel: '#prom-alert-dev' },
        warning: { channel: '#prom-alert-dev' },
        watchdog: { channel: '#prom-alert-watchdog' },
      },
    },
    prometheus+: {
      securityGroups: ['sg-0123456789abcdef2'],
      storage+: { retention: '7d', size: '20Gi' },
    },
  },
}).build()
