#!/usr/bin/env python3
"""A real SMTP server for careledger's secure email tests.

aiosmtpd on 127.0.0.1 with a certificate for "localhost" signed by a test certificate
authority made here (its certificate written to OUT/ca.pem, for the client to trust),
STARTTLS required before anything else and AUTH only over TLS. Each message accepted is
written to OUT/messages/N/: message.json (subject, sender, recipients, Message-ID, whether
the session was TLS and authenticated) and each attachment under its file name.

Modes (--mode):
  accept        accept every message
  fail-first:N  answer 451 (try again later) to the first N messages, then accept
  reject        answer 550 (refused for good) to every message
  plain         offer no STARTTLS at all (a client that requires TLS must not send)

Prints "READY PORT" once listening, then serves until its standard input closes.
"""

import argparse
import datetime
import email
import email.policy
import ipaddress
import json
import os
import socket
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER = b"care@test.example"
PASSWORD = b"relay-password-1"


def certificates(out):
    """A test CA and a server certificate for localhost signed by it."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "careledger test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    with open(os.path.join(out, "ca.pem"), "wb") as f:
        f.write(ca.public_bytes(pem))
    cert_path = os.path.join(out, "server.pem")
    key_path = os.path.join(out, "server.key")
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(pem))
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


class Handler:
    def __init__(self, out, mode):
        self.out = out
        self.mode = mode
        self.seen = 0
        self.accepted = 0

    async def handle_DATA(self, server, session, envelope):
        self.seen += 1
        if self.mode == "reject":
            return "550 5.7.1 Refused by policy"
        if self.mode.startswith("fail-first:") and self.seen <= int(self.mode.split(":")[1]):
            return "451 4.3.0 Try again later"
        self.accepted += 1
        folder = os.path.join(self.out, "messages", str(self.accepted))
        os.makedirs(folder)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        attachments = []
        for part in message.iter_attachments():
            name = os.path.basename(part.get_filename())
            with open(os.path.join(folder, name), "wb") as f:
                f.write(part.get_payload(decode=True))
            attachments.append({"name": name, "type": part.get_content_type()})
        body = message.get_body(preferencelist=("plain",))
        info = {
            "subject": message["subject"],
            "from": message["from"],
            "to": message["to"],
            "message_id": message["message-id"],
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "authenticated": bool(session.authenticated),
            "text": body.get_content() if body is not None else None,
            "attachments": attachments,
        }
        # Written last, whole: the test reads a message once this file is there.
        tmp = os.path.join(folder, "message.json.tmp")
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.rename(tmp, os.path.join(folder, "message.json"))
        return f"250 2.0.0 Ok: queued as TEST{self.accepted}"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USER
        and auth_data.password == PASSWORD
    )
    return AuthResult(success=ok)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--mode", default="accept")
    args = parser.parse_args()
    os.makedirs(os.path.join(args.out, "messages"), exist_ok=True)
    ctx = certificates(args.out)
    plain = args.mode == "plain"
    port = free_port()
    controller = Controller(
        Handler(args.out, args.mode),
        hostname="127.0.0.1",
        port=port,
        tls_context=None if plain else ctx,
        require_starttls=not plain,
        authenticator=authenticator,
        auth_require_tls=not plain,
    )
    controller.start()
    print(f"READY {port}", flush=True)
    sys.stdin.read()
    controller.stop()


if __name__ == "__main__":
    main()
