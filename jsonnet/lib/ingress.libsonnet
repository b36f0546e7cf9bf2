// ALB Ingress builder for the AWS Load Balancer Controller v2.
//
// Why a helper: the three UIs (Grafana, Prometheus, Alertmanager) need the same ~20 annotations
// and differ only in name, host, backend, health check and security groups. The seed spelled
// them out three times with ksonnet; here they come from one function.
//
// Usage:
//   local ingress = import 'lib/ingress.libsonnet';
//   ingress.albIngress({
//     name: 'grafana', namespace: 'monitoring', host: 'grafana.example.com',
//     service: { name: 'grafana', port: 'http' }, healthcheckPath: '/api/health',
//     securityGroups: ['sg-0123456789abcdef0'], env: 'dev', stickiness: false,
//     alb: { subnets: [...], certificateArn: '...', cognito: {...} | null, ... },
//   })
{
  // Defaults for the `alb` object; environment config overrides them.
  albDefaults:: {
    scheme: 'internet-facing',
    subnets: error 'alb.subnets must be set (list of subnet ids)',
    certificateArn: error 'alb.certificateArn must be set (ACM certificate ARN)',
    // null disables Cognito authentication.
    cognito: null,
    sessionTimeoutSeconds: 604800,
    // One ALB per Ingress unless a group name is given (G7: a group needs one shared SG).
    groupName: null,
    stickinessSeconds: 60,
    extraTags: {},
  },

  // Controller v2 documents these key spellings (the seed used UserPoolArn/UserPoolClientId).
  cognitoJson(c)::
    std.manifestJsonMinified({
      userPoolARN: c.userPoolArn,
      userPoolClientID: c.userPoolClientId,
      userPoolDomain: c.userPoolDomain,
    }),

  cognitoAnnotations(alb):: if alb.cognito == null then {} else {
    'alb.ingress.kubernetes.io/auth-type': 'cognito',
    'alb.ingress.kubernetes.io/auth-idp-cognito': $.cognitoJson(alb.cognito),
    'alb.ingress.kubernetes.io/auth-on-unauthenticated-request': 'authenticate',
    'alb.ingress.kubernetes.io/auth-scope': 'openid',
    'alb.ingress.kubernetes.io/auth-session-cookie': 'AWSELBAuthSessionCookie',
    'alb.ingress.kubernetes.io/auth-session-timeout': std.toString(alb.sessionTimeoutSeconds),
  },

  tags(env, app, extra)::
    local all = { env: env, app: app } + extra;
    std.join(',', ['%s=%s' % [k, all[k]] for k in std.objectFields(all)]),

  annotations(p, alb)::
    assert std.length(p.securityGroups) > 0 : 'ingress %s: securityGroups must not be empty' % p.name;
    assert alb.groupName == null || std.length(p.securityGroups) == 1 :
           'ingress %s: alb.groupName needs exactly one security group (G7)' % p.name;
    {
      'alb.ingress.kubernetes.io/scheme': alb.scheme,
      // ip mode: traffic goes straight to pod IPs of ClusterIP Services (no node-ports, G6).
      'alb.ingress.kubernetes.io/target-type': 'ip',
      'alb.ingress.kubernetes.io/subnets': std.join(',', alb.subnets),
      'alb.ingress.kubernetes.io/security-groups': std.join(',', p.securityGroups),
      'alb.ingress.kubernetes.io/manage-backend-security-group-rules': 'true',
      'alb.ingress.kubernetes.io/certificate-arn': alb.certificateArn,
      'alb.ingress.kubernetes.io/listen-ports': '[{"HTTP":80},{"HTTPS":443}]',
      'alb.ingress.kubernetes.io/ssl-redirect': '443',
      'alb.ingress.kubernetes.io/healthcheck-path': p.healthcheckPath,
      'alb.ingress.kubernetes.io/tags': $.tags(p.env, p.name, alb.extraTags),
    }
    + (if p.stickiness then {
         'alb.ingress.kubernetes.io/target-group-attributes':
           'stickiness.enabled=true,stickiness.lb_cookie.duration_seconds=%d' % alb.stickinessSeconds,
       } else {})
    + (if alb.groupName != null then { 'alb.ingress.kubernetes.io/group.name': alb.groupName } else {})
    + $.cognitoAnnotations(alb),

  // p: {name, namespace, host, service: {name, port}, healthcheckPath, securityGroups, env,
  //     stickiness, alb}. `service.port` is the Service's port *name*.
  albIngress(p)::
    local alb = $.albDefaults + p.alb;
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: {
        name: p.name,
        namespace: p.namespace,
        labels: { 'app.kubernetes.io/part-of': 'kube-prometheus' },
        annotations: $.annotations(p, alb),
      },
      spec: {
        ingressClassName: 'alb',
        rules: [{
          host: p.host,
          http: {
            paths: [{
              path: '/',
              pathType: 'Prefix',
              backend: { service: { name: p.service.name, port: { name: p.service.port } } },
            }],
          },
        }],
      },
    },
}
