// stg: only what differs from jsonnet/base.libsonnet. All ids below are placeholders.
((import '../jsonnet/base.libsonnet') + {
  config+:: {
    env: 'stg',
    domain: 'example.com',
    alb+: {
      subnets: ['subnet-0123456789abcdef3', 'subnet-0123456789abcdef4', 'subnet-0123456789abcdef5'],
      certificateArn: 'arn:aws:acm:ap-northeast-1:123456789012:certificate/11111111-1111-1111-1111-111111111111',
      cognito: {
        userPoolArn: 'arn:aws:cognito-idp:ap-northeast-1:123456789012:userpool/ap-northeast-1_EXAMPLE',
        userPoolClientId: 'exampleclientid0stg',
        userPoolDomain: 'example-stg',
      },
      allowFromCidrs: ['10.20.0.0/16'],
    },
    grafana+: {
      securityGroups: ['sg-0123456789abcdef3'],
      github+: { clientId: 'example-github-client-id-stg', allowedOrganizations: 'example-org' },
    },
    alertmanager+: {
      securityGroups: ['sg-0123456789abcdef4'],
      slack+: {
        critical: { channel: '#prom-alert-stg' },
        warning: { channel: '#prom-alert-stg' },
        watchdog: { channel: '#prom-alert-watchdog' },
      },
    },
    prometheus+: {
      securityGroups: ['sg-0123456789abcdef5'],
      storage+: { retention: '15d', size: '50Gi' },
    },
  },
}).build()
