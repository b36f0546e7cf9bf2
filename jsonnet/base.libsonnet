// The EKS monitoring stack: kube-prometheus v0.18.0 customised for Amazon EKS.
//
// Environment files (environments/<env>.jsonnet) import this file, override `config+::` with
// what differs per environment, and call `.build()`. Everything else lives here. The feature
// list, the bugs fixed relative to the 2019 seed (B1, B2) and the gotchas handled (G1-G8) are
// explained in docs/stack.md.
local amlib = import 'lib/alertmanager.libsonnet';
local buildlib = import 'lib/build.libsonnet';
local ingresslib = import 'lib/ingress.libsonnet';

(import 'github.com/prometheus-operator/kube-prometheus/jsonnet/kube-prometheus/main.libsonnet') +
// G8: spread the EBS-backed replicas over zones (soft), see values below.
(import 'github.com/prometheus-operator/kube-prometheus/jsonnet/kube-prometheus/addons/anti-affinity.libsonnet') +
{
  // Organisation-wide settings. Environment files override them with `config+:: {...}`.
  config:: {
    env: error 'config.env must be set (e.g. dev, stg, prd)',
    namespace: 'monitoring',
    urlProtocol: 'https',
    domain: error 'config.domain must be set (e.g. example.com)',
    // prd gets bare hosts (grafana.example.com), others a prefix (dev-grafana.example.com).
    domainPrefix: if self.env == 'prd' then '' else self.env + '-',
    host(app):: self.domainPrefix + app + '.' + self.domain,
    url(app):: self.urlProtocol + '://' + self.host(app),

    // 'reference': manifests carry no secret material; the Secrets named in `secretNames` are
    // created out of band. 'inline': values come from the ext var `secrets`
    // (kpb build ENV --ext-code-file secrets=secrets/ENV.json). See docs/stack.md.
    secretsMode: 'reference',
    secretNames: { slack: 'alertmanager-slack', grafana: 'grafana-secrets' },

    alb: ingresslib.albDefaults {
      // G1: CIDRs the ALB reaches the pods from (VPC or ALB subnets); added to NetworkPolicies.
      allowFromCidrs: error 'config.alb.allowFromCidrs must be set (VPC CIDR blocks)',
    },
    grafana: {
      securityGroups: error 'config.grafana.securityGroups must be set',
      github: {
        clientId: error 'config.grafana.github.clientId must be set',
        allowedOrganizations: error 'config.grafana.github.allowedOrganizations must be set',
        teamIds: '',
      },
    },
    alertmanager: {
      securityGroups: error 'config.alertmanager.securityGroups must be set',
      replicas: 3,
      slack: {
        critical: { channel: error 'config.alertmanager.slack.critical.channel must be set' },
        warning: { channel: error 'config.alertmanager.slack.warning.channel must be set' },
        watchdog: { channel: error 'config.alertmanager.slack.watchdog.channel must be set' },
      },
      silencedAlerts: amlib.defaultSilencedAlerts,
    },
    prometheus: {
      securityGroups: error 'config.prometheus.securityGroups must be set',
      replicas: 3,
      storage: {
        retention: '30d',
        retentionSize: null,
        size: '30Gi',
        // G3: a new name; provisioner/parameters of the old `prometheus` class are immutable.
        className: 'prometheus-gp3',
        reclaimPolicy: 'Delete',
        allowVolumeExpansion: true,
      },
    },
    // G8: zone spreading for the replicated, EBS-backed components.
    antiAffinityTopologyKey: 'topology.kubernetes.io/zone',
    // G2: the seed's minimums (container cpu 10m, pod 100m/100Mi) rejected several pods.
    limitRange: {
      container: {
        max: { cpu: '8', memory: '16Gi' },
        min: { cpu: '1m', memory: '10Mi' },
        default: { cpu: '8', memory: '16Gi' },
        defaultRequest: { cpu: '100m', memory: '100Mi' },
      },
      pod: { max: { cpu: '16', memory: '32Gi' } },
    },
  },

  local cfg = $.config,
  local inline = cfg.secretsMode == 'inline',
  assert std.member(['reference', 'inline'], cfg.secretsMode) :
         "config.secretsMode must be 'reference' or 'inline'",

  // Only read in inline mode, so reference builds need no ext var. Shape: secrets/example.json.
  secrets:: std.extVar('secrets'),

  local slackUrl(level) =
    if inline then { api_url: $.secrets.slack[level] }
    else { api_url_file: '/etc/alertmanager/secrets/%s/%s' % [cfg.secretNames.slack, level] },

  local secretEnv(name, key) = {
    name: name,
    valueFrom: { secretKeyRef: { name: cfg.secretNames.grafana, key: key } },
  },

  values+:: {
    common+: {
      namespace: cfg.namespace,
      // G5: the real platform knob (brings aws-vpc-cni and managed-cluster).
      platform: 'eks',
    },
    alertmanager+: {
      replicas: cfg.alertmanager.replicas,
      config: amlib.config(cfg.alertmanager, slackUrl),
      // reference mode: the operator mounts this Secret under /etc/alertmanager/secrets/.
      secrets: if inline then [] else [cfg.secretNames.slack],
      podAntiAffinityTopologyKey: cfg.antiAffinityTopologyKey,
    },
    prometheus+: {
      replicas: cfg.prometheus.replicas,
      storage: {
        volumeClaimTemplate: {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          spec: {
            accessModes: ['ReadWriteOnce'],
            storageClassName: cfg.prometheus.storage.className,
            resources: { requests: { storage: cfg.prometheus.storage.size } },
          },
        },
      },
      podAntiAffinityTopologyKey: cfg.antiAffinityTopologyKey,
    },
    grafana+: {
      config+: {
        sections+: {
          date_formats: { default_timezone: 'UTC' },
          server: { root_url: cfg.url('grafana') },
          'auth.github': {
            enabled: true,
            allow_sign_up: true,
            client_id: cfg.grafana.github.clientId,
            scopes: 'user:email,read:org',
            auth_url: 'https://github.com/login/oauth/authorize',
            token_url: 'https://github.com/login/oauth/access_token',
            api_url: 'https://api.github.com/user',
            team_ids: cfg.grafana.github.teamIds,
            allowed_organizations: cfg.grafana.github.allowedOrganizations,
          } + (if inline then { client_secret: $.secrets.grafana.githubClientSecret } else {}),
        } + (if inline then { security: { admin_password: $.secrets.grafana.adminPassword } } else {}),
      },
      // reference mode: Grafana reads GF_* variables over grafana.ini values.
      env: if inline then [] else [
        secretEnv('GF_SECURITY_ADMIN_PASSWORD', 'admin-password'),
        secretEnv('GF_AUTH_GITHUB_CLIENT_SECRET', 'github-client-secret'),
      ],
      dashboards+: {
        'cluster-autoscaler-stats.json': import 'dashboards/cluster-autoscaler-stats.json',
      },
    },
  },

  // G1: kube-prometheus' NetworkPolicies admit only in-cluster peers; let the ALB reach the UI.
  local allowFromAlb(port) = {
    spec+: {
      ingress+: [{
        from: [{ ipBlock: { cidr: c } } for c in cfg.alb.allowFromCidrs],
        ports: [{ port: port, protocol: 'TCP' }],
      }],
    },
  },

  alertmanager+: {
    alertmanager+: { spec+: { externalUrl: cfg.url('alertmanager') } },
    networkPolicy+: allowFromAlb(9093),
  },
  prometheus+: {
    prometheus+: {
      spec+: {
        externalUrl: cfg.url('prometheus'),
        retention: cfg.prometheus.storage.retention,
      } + (
        if cfg.prometheus.storage.retentionSize == null then {}
        else { retentionSize: cfg.prometheus.storage.retentionSize }
      ),
    },
    networkPolicy+: allowFromAlb(9090),
  },
  grafana+: {
    networkPolicy+: allowFromAlb(3000),
  },

  local uiIngress(name, app, service, port, health, groups, sticky) = ingresslib.albIngress({
    name: name,
    namespace: cfg.namespace,
    host: cfg.host(app),
    service: { name: service, port: port },
    healthcheckPath: health,
    securityGroups: groups,
    env: cfg.env,
    stickiness: sticky,
    alb: cfg.alb,
  }),

  local uiGroups = [cfg.alertmanager.securityGroups, cfg.grafana.securityGroups,
                    cfg.prometheus.securityGroups],
  // G7: security-groups is "exclusive" within an IngressGroup: all members must agree.
  assert cfg.alb.groupName == null || std.length(std.set([std.join(',', g) for g in uiGroups])) == 1 :
         'config.alb.groupName needs the same single security group for grafana, prometheus and alertmanager (G7)',

  ingress:: {
    'alertmanager-main': uiIngress('alertmanager-main', 'alertmanager', 'alertmanager-main', 'web',
                                   '/-/healthy', cfg.alertmanager.securityGroups, true),
    grafana: uiIngress('grafana', 'grafana', 'grafana', 'http',
                       '/api/health', cfg.grafana.securityGroups, false),
    'prometheus-k8s': uiIngress('prometheus-k8s', 'prometheus', 'prometheus-k8s', 'web',
                                '/-/healthy', cfg.prometheus.securityGroups, true),
  },

  // G3: EBS CSI driver (add-on `aws-ebs-csi-driver` must be installed), gp3, encrypted.
  storageClass:: {
    [cfg.prometheus.storage.className]: {
      apiVersion: 'storage.k8s.io/v1',
      kind: 'StorageClass',
      metadata: { name: cfg.prometheus.storage.className },
      provisioner: 'ebs.csi.aws.com',
      parameters: { type: 'gp3', encrypted: 'true', 'csi.storage.k8s.io/fstype': 'ext4' },
      reclaimPolicy: cfg.prometheus.storage.reclaimPolicy,
      allowVolumeExpansion: cfg.prometheus.storage.allowVolumeExpansion,
      volumeBindingMode: 'WaitForFirstConsumer',
    },
  },

  common:: {
    'limit-range': {
      apiVersion: 'v1',
      kind: 'LimitRange',
      metadata: { name: 'limit-range', namespace: cfg.namespace },
      spec: {
        limits: [
          { type: 'Container' } + cfg.limitRange.container,
          { type: 'Pod' } + cfg.limitRange.pod,
        ],
      },
    },
  },

  // The multi-file output kpb writes to manifests/<env>/ (setup/ first, then the rest).
  build():: buildlib.files($),
}
