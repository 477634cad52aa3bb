# NixOS module: declarative containers (`containers.<name>`) run by the
# org.nixos.Containers service instead of container@NAME units.
#
# It replaces nixpkgs' virtualisation/nixos-containers.nix (same options,
# same names, types and defaults, plus the unit limits of this project) and,
# rather than a unit and a conf per container, writes one file,
# /etc/nixos-containers/declarative.json, that a oneshot unit hands to the
# service on every switch that changes it (`nixos-container
# apply-declarative`). The service decides per key what a change needs:
# nothing, a live limit, a reload, or a restart.
{ config, lib, pkgs, ... }:

let
  inherit (lib)
    mkOption mkIf mkMerge mkDefault types literalExpression
    mapAttrs mapAttrsToList concatStrings concatMapStrings optionalString optional head splitString hasInfix;

  cfg = config.services.nixos-containers;

  setFileName = "nixos-containers/declarative.json";
  setFilePath = "/etc/${setFileName}";

  # Options shared by the container's own veth and its extra veths, as in
  # nixpkgs (where forwardPorts and localMacAddress of an extra veth are
  # declared and unused, too).
  networkOptions = {
    hostBridge = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "br0";
      description = "Existing bridge the host end of the veth pair joins (instead of host addresses).";
    };

    forwardPorts = mkOption {
      type = types.listOf (types.submodule {
        options = {
          protocol = mkOption {
            type = types.str;
            default = "tcp";
            description = "Protocol of the forwarded port: tcp or udp.";
          };
          hostPort = mkOption {
            type = types.port;
            description = "Port on the host.";
          };
          containerPort = mkOption {
            type = types.nullOr types.port;
            default = null;
            description = "Port in the container; null: the same as hostPort.";
          };
        };
      });
      default = [ ];
      example = [ { protocol = "tcp"; hostPort = 8080; containerPort = 80; } ];
      description = "Ports forwarded from the host into the container (needs privateNetwork).";
    };

    hostAddress = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "10.231.136.1";
      description = "IPv4 address of the host end of the veth pair.";
    };

    hostAddress6 = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "fc00::1";
      description = "IPv6 address of the host end of the veth pair.";
    };

    localAddress = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "10.231.136.2";
      description = "IPv4 address of the container end (optionally with a /prefix).";
    };

    localAddress6 = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "fc00::2";
      description = "IPv6 address of the container end (optionally with a /prefix).";
    };

    localMacAddress = mkOption {
      type = types.nullOr (types.strMatching "([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}");
      default = null;
      example = "02:00:00:00:00:01";
      description = "MAC address of the container's eth0; null: a random one.";
    };
  };

  bindMountOptions = { name, ... }: {
    options = {
      mountPoint = mkOption {
        type = types.str;
        example = "/mnt/usb";
        description = "Where the directory appears in the container (default: the attribute name).";
      };
      hostPath = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "/home/alice";
        description = "Directory on the host; null: the same path as mountPoint.";
      };
      isReadOnly = mkOption {
        type = types.bool;
        default = true;
        description = "Whether the container sees the directory read-only.";
      };
    };
    config.mountPoint = mkDefault name;
  };

  allowedDeviceOptions = {
    options = {
      node = mkOption {
        type = types.str;
        example = "/dev/net/tun";
        description = "Device node.";
      };
      modifier = mkOption {
        type = types.str;
        example = "rwm";
        description = "Access: a combination of r (read), w (write) and m (mknod).";
      };
    };
  };

  # A unit limit of this project: a string as systemd takes it, or null for
  # systemd's default.
  limitOption = key: example: mkOption {
    type = types.nullOr types.str;
    default = null;
    inherit example;
    description = ''
      The container unit's ${key}= (new in this project's module; not in
      nixpkgs'). A change is set on the running container, with neither a
      restart nor a reload. null: systemd's default.
    '';
  };

  containerModule = { config, options, name, ... }: {
    options = {
      config = mkOption {
        description = ''
          The container's NixOS configuration, as a module; its
          system.build.toplevel becomes `path`.
        '';
        type = lib.mkOptionType {
          name = "Toplevel NixOS config";
          merge = _loc: defs:
            let
              containerDefaults = { options, ... }: {
                config = {
                  networking.hostName = mkDefault name;
                  networking.useDHCP = false;
                }
                # Older nixpkgs know only boot.isContainer.
                // (if options.boot ? isNspawnContainer
                    then { boot.isNspawnContainer = true; }
                    else { boot.isContainer = true; })
                // (if options.nixpkgs ? hostPlatform
                    then { nixpkgs.hostPlatform = mkDefault pkgs.stdenv.hostPlatform; }
                    else { nixpkgs.localSystem = mkDefault pkgs.stdenv.hostPlatform; });
              };
            in
            (import "${toString config.nixpkgs}/nixos/lib/eval-config.nix" {
              system = null;
              modules = [ containerDefaults ] ++ map (def: def.value) defs;
              prefix = [ "containers" name ];
              inherit (config) specialArgs;
            }).config;
        };
      };

      path = mkOption {
        type = types.path;
        example = "/nix/var/nix/profiles/per-container/webserver";
        description = ''
          The container's evaluated NixOS system (instead of `config`),
          typically a system profile's link. Given to the service as SystemPath.
        '';
      };

      additionalCapabilities = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "CAP_NET_ADMIN" "CAP_MKNOD" ];
        description = "Capabilities given to the container besides nspawn's default set.";
      };

      nixpkgs = mkOption {
        type = types.path;
        default = pkgs.path;
        defaultText = literalExpression "pkgs.path";
        description = "The nixpkgs whose nixos/ evaluates `config`.";
      };

      specialArgs = mkOption {
        type = types.attrsOf types.unspecified;
        default = { };
        description = "Extra specialArgs for the evaluation of `config`.";
      };

      ephemeral = mkOption {
        type = types.bool;
        default = false;
        description = "Run on an empty root that is thrown away when the container stops.";
      };

      enableTun = mkOption {
        type = types.bool;
        default = false;
        description = "Give the container /dev/net/tun and CAP_NET_ADMIN.";
      };

      copyResolvConf = mkOption {
        type = types.bool;
        default = true;
        description = "Copy the host's /etc/resolv.conf into the container at each start.";
      };

      privateNetwork = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Give the container a network namespace of its own with a veth pair
          (eth0 inside); otherwise it shares the host's network. The host and
          local addresses, hostBridge, forwardPorts and localMacAddress take
          effect only with it, as in nixpkgs.
        '';
      };

      networkNamespace = mkOption {
        type = types.nullOr types.path;
        default = null;
        example = "/run/netns/blue";
        description = "A network namespace file to run in (not with privateNetwork or interfaces).";
      };

      privateUsers = mkOption {
        type = types.either types.ints.u32 (types.enum [ "no" "identity" "pick" ]);
        default = "no";
        description = ''
          User namespacing: "no", "identity", "pick" (a free range chosen
          for the container) or the first host uid of its range.
        '';
      };

      interfaces = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "eth1" "eth2" ];
        description = "Host interfaces moved into the container.";
      };

      macvlans = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "eth1" "eth2" ];
        description = "Host interfaces on which a macvlan is made for the container.";
      };

      extraVeths = mkOption {
        type = types.attrsOf (types.submodule { options = networkOptions; });
        default = { };
        description = "Further veth pairs, by name.";
      };

      autoStart = mkOption {
        type = types.bool;
        default = false;
        description = "Start the container at boot, and when a switch adds it.";
      };

      restartIfChanged = mkOption {
        type = types.bool;
        default = true;
        description = ''
          Whether a switch may restart the container when a change needs a
          restart. When false such a change is recorded and takes effect at
          the next start; changes that need no restart (a system, a limit)
          are still applied.
        '';
      };

      timeoutStartSec = mkOption {
        type = types.str;
        default = "1min";
        description = "How long the container may take to start (a systemd time span).";
      };

      bindMounts = mkOption {
        type = types.attrsOf (types.submodule bindMountOptions);
        default = { };
        example = literalExpression ''
          { "/home" = { hostPath = "/home/alice"; isReadOnly = false; }; }
        '';
        description = "Host directories bound into the container, by mount point.";
      };

      allowedDevices = mkOption {
        type = types.listOf (types.submodule allowedDeviceOptions);
        default = [ ];
        example = [ { node = "/dev/net/tun"; modifier = "rwm"; } ];
        description = "Device nodes the container may use.";
      };

      tmpfs = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "/var" ];
        description = "tmpfs mounts, each as systemd-nspawn's --tmpfs takes it.";
      };

      extraFlags = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "--drop-capability=CAP_SYS_CHROOT" ];
        description = ''
          Extra systemd-nspawn arguments, one word each. The service accepts
          only options that change nothing but the container.
        '';
      };

      flake = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "github:NixOS/nixpkgs/master";
        description = ''
          A flake whose nixosConfigurations.container (or the #fragment's)
          the service builds, instead of `path` or `config`.
        '';
      };

      memoryMax = limitOption "MemoryMax" "2G";
      memoryHigh = limitOption "MemoryHigh" "1536M";
      cpuWeight = limitOption "CPUWeight" "100";
      cpuQuota = limitOption "CPUQuota" "200%";
      tasksMax = limitOption "TasksMax" "4096";
      ioWeight = limitOption "IOWeight" "100";

      # Removed from nixpkgs long ago; a definition is an error, as there.
      pkgs = mkOption { visible = false; };
    } // networkOptions;

    config.path = mkMerge [
      (mkIf options.pkgs.isDefined (throw ''
        containers.${name}.pkgs has no effect any more: use
        containers.${name}.nixpkgs (the nixpkgs that evaluates the container) or
        containers.${name}.config.nixpkgs.pkgs.
      ''))
      (mkIf (options.config.isDefined && config.flake != null) (throw ''
        containers.${name}: set either config or flake, not both.
      ''))
      (mkIf options.config.isDefined config.config.system.build.toplevel)
      (mkIf (config.flake != null) "/nix/var/nix/profiles/per-container/${name}")
    ];
  };

  orEmpty = value: if value == null then "" else value;

  # One container's spec: Create's keys (interfaces/org.nixos.Containers.xml)
  # with values as Inspect prints them. Every key is written, defaults too,
  # so the file says all the module means. As in nixpkgs, the veth's options
  # count only with privateNetwork.
  specOf = _name: c:
    let
      net = c.privateNetwork;
      onNet = value: if net then orEmpty value else "";
    in
    (if c.flake != null then { Flake = c.flake; } else { SystemPath = "${c.path}"; })
    // {
      PrivateNetwork = net;
      HostBridge = onNet c.hostBridge;
      HostAddress = onNet c.hostAddress;
      HostAddress6 = onNet c.hostAddress6;
      LocalAddress = onNet c.localAddress;
      LocalAddress6 = onNet c.localAddress6;
      LocalMacAddress = onNet c.localMacAddress;
      ForwardPorts = if !net then [ ] else map (p: {
        Protocol = p.protocol;
        HostPort = p.hostPort;
        ContainerPort = if p.containerPort == null then p.hostPort else p.containerPort;
      }) c.forwardPorts;
      # toString: a namespace file is never copied into the store.
      NetworkNamespace = if c.networkNamespace == null then "" else toString c.networkNamespace;
      Interfaces = c.interfaces;
      Macvlans = c.macvlans;
      ExtraVeths = mapAttrs (_veth: v: {
        HostAddress = orEmpty v.hostAddress;
        LocalAddress = orEmpty v.localAddress;
        HostAddress6 = orEmpty v.hostAddress6;
        LocalAddress6 = orEmpty v.localAddress6;
        HostBridge = orEmpty v.hostBridge;
      }) c.extraVeths;
      AutoStart = c.autoStart;
      Ephemeral = c.ephemeral;
      EnableTun = c.enableTun;
      CopyResolvConf = c.copyResolvConf;
      TimeoutStartSec = c.timeoutStartSec;
      PrivateUsers = toString c.privateUsers;
      AdditionalCapabilities = c.additionalCapabilities;
      Tmpfs = c.tmpfs;
      ExtraFlags = c.extraFlags;
      BindMounts = mapAttrsToList (_key: b: {
        MountPoint = b.mountPoint;
        HostPath = orEmpty b.hostPath;
        ReadOnly = b.isReadOnly;
      }) c.bindMounts;
      AllowedDevices = map (d: { Node = d.node; Modifier = d.modifier; }) c.allowedDevices;
      MemoryMax = orEmpty c.memoryMax;
      MemoryHigh = orEmpty c.memoryHigh;
      CPUWeight = orEmpty c.cpuWeight;
      CPUQuota = orEmpty c.cpuQuota;
      TasksMax = orEmpty c.tasksMax;
      IOWeight = orEmpty c.ioWeight;
    };

  declarativeSet = {
    Containers = mapAttrs (name: c: {
      RestartIfChanged = c.restartIfChanged;
      Spec = specOf name c;
    }) config.containers;
  };

  # systemd's escaping of a device path, as utils.escapeSystemdPath does.
  deviceUnit = iface:
    "sys-subsystem-net-devices-${lib.replaceStrings [ "/" "-" " " ] [ "-" "\\x2d" "\\x20" ] iface}.device";
  awaitedInterfaces = lib.concatLists
    (mapAttrsToList (_: c: optional c.autoStart c.interfaces) config.containers);
  interfaceUnits = map deviceUnit (lib.unique (lib.concatLists awaitedInterfaces));

  ownersRule = builtins.readFile ../polkit/50-nixos-containers-owners.rules.example;
in
{
  disabledModules = [ "virtualisation/nixos-containers.nix" ];

  options = {
    boot.isContainer = mkOption {
      type = types.bool;
      default = config.boot.isNspawnContainer;
      defaultText = literalExpression "config.boot.isNspawnContainer";
      description = "Whether this system runs as a container inside another.";
    };

    boot.isNspawnContainer = mkOption {
      type = types.bool;
      default = false;
      description = "Whether this system runs in a systemd-nspawn container.";
    };

    boot.enableContainers = mkOption {
      type = types.bool;
      default = config.containers != { };
      defaultText = literalExpression "config.containers != { }";
      description = "Whether to run NixOS containers (the org.nixos.Containers service).";
    };

    containers = mkOption {
      type = types.attrsOf (types.submodule containerModule);
      default = { };
      example = literalExpression ''
        { web = {
            privateNetwork = true;
            hostAddress = "10.231.7.1";
            localAddress = "10.231.7.2";
            autoStart = true;
            memoryMax = "1G";
            config = { services.nginx.enable = true; system.stateVersion = "24.05"; };
          };
        }
      '';
      description = ''
        Declarative NixOS containers, run by the org.nixos.Containers service
        (`nixos-container list`, `nixos-container start NAME`, ...). Each
        switch hands the whole set to the service, which creates, updates or
        stops and forgets containers so that they match it.
      '';
    };

    services.nixos-containers = {
      enable = mkOption {
        type = types.bool;
        default = config.boot.enableContainers;
        defaultText = literalExpression "config.boot.enableContainers";
        description = "Whether to run the org.nixos.Containers service.";
      };

      package = mkOption {
        type = types.package;
        default = pkgs.callPackage ../package.nix { };
        defaultText = literalExpression "pkgs.callPackage ./package.nix { }";
        description = "The nixos-containers package (service, CLI, unit, bus policy, polkit actions).";
      };

      settings = mkOption {
        type = types.attrsOf types.str;
        default = { };
        example = { NIXOS_CONTAINERS_MAX_PER_USER = "4"; };
        description = "The service's settings (nixos-containersd(8), docs/settings.md), as its environment.";
      };

      ownersGroup.enable = mkOption {
        type = types.bool;
        default = false;
        description = ''
          Create the group `containers` and install the shipped polkit rule
          by which its members manage the containers they created.
        '';
      };
    };
  };

  config = mkMerge [
    {
      assertions = lib.concatLists (mapAttrsToList (name: c: [
        {
          assertion = !hasInfix "_" name;
          message = "containers.${name}: systemd-nspawn and machined refuse names with `_`; rename it.";
        }
        {
          assertion = c.networkNamespace == null || !(c.privateNetwork || c.interfaces != [ ]);
          message = "containers.${name}.networkNamespace cannot go with privateNetwork or interfaces.";
        }
      ]) config.containers);

      warnings = optional (config.containers != { } && !cfg.enable)
        "containers.<name> is set, but services.nixos-containers.enable (boot.enableContainers) is false.";
    }

    (mkIf cfg.enable {
      services.nixos-containers.settings.NIXOS_CONTAINERS_NSPAWN =
        mkDefault "${config.systemd.package}/bin/systemd-nspawn";

      environment.systemPackages = [ cfg.package ];
      services.dbus.packages = [ cfg.package ];
      systemd.packages = [ cfg.package ];
      security.polkit.enable = mkDefault true;

      # The packaged unit, with the settings (a drop-in on NixOS).
      systemd.services.nixos-containers = {
        wantedBy = [ "multi-user.target" ];
        environment = cfg.settings;
      };

      environment.etc.${setFileName}.text = builtins.toJSON declarativeSet;

      # Hands the set to the service at boot and whenever a switch changes it
      # (the file's store path is its restart trigger). Always there, also
      # with no containers, so that removing the last one forgets it.
      systemd.services.nixos-containers-declarative = {
        description = "Declarative NixOS containers (containers.<name>)";
        requires = [ "nixos-containers.service" ];
        wants = [ "network.target" ] ++ interfaceUnits;
        after = [ "nixos-containers.service" "network.target" ] ++ interfaceUnits;
        wantedBy = [ "multi-user.target" ];
        restartTriggers = [ config.environment.etc.${setFileName}.source ];
        serviceConfig = {
          Type = "oneshot";
          RemainAfterExit = true;
          ExecStart = "${cfg.package}/bin/nixos-container apply-declarative ${setFilePath}";
        };
      };

      # NAME.containers for both address families: nixpkgs names only the
      # IPv4 one, so an IPv6-only container had no name.
      networking.extraHosts = concatStrings (mapAttrsToList (name: c:
        concatMapStrings (address: optionalString (address != null) ''
          ${head (splitString "/" address)} ${name}.containers
        '') [ c.localAddress c.localAddress6 ]) config.containers);

      networking.dhcpcd.denyInterfaces = [ "ve-*" "vb-*" ];

      services.udev.extraRules = optionalString config.networking.networkmanager.enable ''
        # Interfaces of nixos-containers are the service's, not NetworkManager's.
        ENV{INTERFACE}=="v[eb]-*", ENV{NM_UNMANAGED}="1"
      '';

      boot.kernelModules = [ "bridge" "macvlan" "tap" "tun" ];
    })

    (mkIf (cfg.enable && cfg.ownersGroup.enable) {
      users.groups.containers = { };
      security.polkit.extraConfig = ownersRule;
    })
  ];
}
