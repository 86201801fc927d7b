-- Prosody for pepline's docker-compose stack: the server the local stack generates
-- (src/pepline/stack/prosody.py) for a container: PEP, STARTTLS required on c2s, no
-- federation, and the publisher as an XEP-0114 component holding a XEP-0356 privilege over
-- the pubsub namespace. mod_privilege (Debian's prosody-modules) is enabled on BOTH the
-- VirtualHost, which grants, and the Component, whose connection triggers the grant.
--
-- Settings come from the container's environment: Prosody resolves ENV_<NAME> in this file
-- to os.getenv("<NAME>"). deploy/prosody/entrypoint.sh makes the certificate and accounts.

local domain = ENV_PROSODY_DOMAIN or "pepline.test"
local component = ENV_PROSODY_COMPONENT or ("publisher." .. domain)
local data = ENV_PROSODY_DATA or "/var/lib/prosody"
local tls = { certificate = data .. "/tls/server.crt", key = data .. "/tls/server.key" }

pidfile = data .. "/prosody.pid"
data_path = data
plugin_paths = { "/usr/lib/prosody/modules" }
certificates = data .. "/tls"  -- the files named by `ssl` below; no other certificates
log = { { levels = { min = ENV_PROSODY_LOG_LEVEL or "info" }, to = "console" } }

-- Inside the container every listener binds all interfaces; compose publishes only c2s.
interfaces = { ENV_PROSODY_INTERFACE or "*" }
c2s_ports = { tonumber(ENV_PROSODY_C2S_PORT) or 5222 }
component_interfaces = { ENV_PROSODY_INTERFACE or "*" }
component_ports = { tonumber(ENV_PROSODY_COMPONENT_PORT) or 5347 }
-- One server: no federation, no HTTP.
modules_disabled = { "s2s", "s2s_auth_certs", "dialback" }
s2s_ports = { }
http_ports = { }
https_ports = { }

authentication = "internal_hashed"
storage = "internal"
allow_registration = false
c2s_require_encryption = true
ssl = tls

modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "pep" }

VirtualHost (domain)
    ssl = tls
    modules_enabled = { "roster", "saslauth", "tls", "disco", "ping", "pep", "privilege" }
    -- XEP-0356: what the publisher component may do on behalf of this host's users.
    privileged_entities = {
        [component] = {
            roster = "get";
            message = "outgoing";
            presence = "roster";
            iq = { ["http://jabber.org/protocol/pubsub"] = "set" };
        };
    }

Component (component)
    component_secret = ENV_PROSODY_COMPONENT_SECRET
    modules_enabled = { "privilege" }
