# Container definitions the outputs and differential tests evaluate with
# our module and the reference one: a private network with addresses and
# ports, a bridge, binds read-only and writable, devices, extra veths,
# moved interfaces and macvlans, autoStart, user namespaces, limits,
# restartIfChanged = false. Options the reference lacks are added by
# `ours` only.
let
  system = name: "/nix/store/${builtins.substring 0 32 (builtins.hashString "sha256" name)}-nixos-system-${name}";
in
rec {
  common = {
    web = {
      path = system "web";
      privateNetwork = true;
      hostAddress = "10.231.136.1";
      localAddress = "10.231.136.2/24";
      hostAddress6 = "fc00::1";
      localAddress6 = "fc00::2";
      forwardPorts = [
        { hostPort = 8080; containerPort = 80; }
        { protocol = "udp"; hostPort = 5353; }
      ];
      autoStart = true;
      bindMounts = {
        "/srv/www" = { hostPath = "/var/www"; };
        "/var/cache/web" = { isReadOnly = false; };
        data = { mountPoint = "/data"; hostPath = "/srv/data"; isReadOnly = false; };
      };
    };
    bridged = {
      path = system "bridged";
      privateNetwork = true;
      hostBridge = "br0";
      localAddress = "10.0.0.5/24";
      timeoutStartSec = "2min";
    };
    gadgets = {
      path = system "gadgets";
      interfaces = [ "eth1" ];
      macvlans = [ "eth2" "eth3" ];
      autoStart = true;
      enableTun = true;
      allowedDevices = [ { node = "/dev/fuse"; modifier = "rwm"; } ];
      additionalCapabilities = [ "CAP_SYS_ADMIN" "CAP_MKNOD" ];
      tmpfs = [ "/var/tmp" "/scratch:mode=0700" ];
      extraFlags = [ "--hostname=gadget" "--setenv=GREETING=hello" ];
      ephemeral = true;
    };
    veths = {
      path = system "veths";
      privateNetwork = true;
      extraVeths = {
        vx1 = { hostAddress = "192.168.7.1"; localAddress = "192.168.7.2"; };
        vx2 = { hostBridge = "br1"; hostAddress6 = "fd00::1"; localAddress6 = "fd00::2"; };
      };
    };
    # Addresses without privateNetwork are unused, as in nixpkgs, but the
    # local one still names the container in /etc/hosts.
    shared = {
      path = system "shared";
      hostAddress = "10.9.9.1";
      localAddress = "10.9.9.2";
      forwardPorts = [ { hostPort = 8443; } ];
    };
  };

  # Options the reference module does not have.
  ours = common // {
    web = common.web // {
      localMacAddress = "02:00:00:00:0a:01";
      memoryMax = "2G";
      cpuQuota = "150%";
      tasksMax = "512";
    };
    bridged = common.bridged // {
      privateUsers = "pick";
      copyResolvConf = false;
      memoryHigh = "1G";
      cpuWeight = "200";
      ioWeight = "50";
    };
    gadgets = common.gadgets // {
      # One word here, where the reference's template splits it in two.
      extraFlags = [ "--hostname=gadget" "--setenv=GREETING=hello world" ];
      privateUsers = 65536;
      restartIfChanged = false;
    };
    shared = common.shared // {
      networkNamespace = "/run/netns/blue";
    };
    flaky = {
      flake = "github:example/containers#box";
    };
  };
}
