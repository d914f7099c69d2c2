"""ClientPayload builders: what the device tells the edge in the Noise ClientFinish (register or log in).

Registration (no `me` yet) carries `DevicePairingRegistrationData`: registration id, identity key, signed
prekey and its signature, the MD5 of the version text as build hash, and `DeviceProps` (the name and
browser the phone lists under Linked devices, and the history-sync capabilities WhatsApp Web declares).
Login carries our account number and device id. Both carry the same user agent (web platform, version
from configuration, locale). Field for field what WhatsApp Web (and Baileys) send: the interop tests
compare the bytes with Baileys' generateRegistrationNode / generateLoginNode from the same inputs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from connector.engines.web.creds import Credentials
from connector.engines.web.errors import CredentialsError
from connector.engines.web.protos import serialize, wa
from connector.engines.web.settings import WebSettings
from connector.engines.web.version import WaVersion, format_version

KEY_BUNDLE_TYPE: Final = b"\x05"  # "DJB" Curve25519 keys

# The companion's DeviceProps.version and history-sync declaration, as WhatsApp Web declares them.
COMPANION_VERSION: Final = (10, 15, 7)
STORAGE_QUOTA_MB: Final = 10240

# Desktop apps claim their OS as the web sub-platform when they keep a full history.
_DESKTOP_SUB_PLATFORMS: Final = {"Mac OS": "DARWIN", "Windows": "WIN32"}

# The QR code's last field: which kind of web client is asking (CompanionWebClientType).
_QR_CLIENT_TYPES: Final = {"Chrome": 1, "Edge": 2, "Firefox": 3, "IE": 4, "Opera": 5, "Safari": 6}


@dataclass(frozen=True, slots=True)
class ClientProfile:
    """Who the device says it is: version, the name and browser shown on the phone, locale."""

    version: WaVersion
    device_name: str = "wagate"
    browser: str = "Chrome"
    country: str = "US"
    language: str = "en"
    require_full_sync: bool = False

    @classmethod
    def from_settings(cls, settings: WebSettings, version: WaVersion) -> ClientProfile:
        return cls(
            version=version,
            device_name=settings.device_name,
            browser=settings.browser,
            country=settings.country,
            language=settings.language,
        )

    @property
    def qr_client_type(self) -> str:
        """The companion client type the QR code ends with (Desktop: Electron, or UWP on Windows)."""
        if self.browser == "Desktop":
            return "8" if self.device_name == "Windows" else "7"
        return str(_QR_CLIENT_TYPES.get(self.browser, 9))


def registration_payload(creds: Credentials, profile: ClientProfile) -> bytes:
    """The ClientPayload of a device that is not linked yet: it asks for pairing refs."""
    signed = creds.signed_pre_key
    payload = _base_payload(profile)
    payload.passive = False
    payload.pull = False
    payload.devicePairingData.CopyFrom(
        wa.ClientPayload.DevicePairingRegistrationData(
            eRegid=creds.registration_id.to_bytes(4, "big"),
            eKeytype=KEY_BUNDLE_TYPE,
            eIdent=creds.identity_key.public,
            eSkeyId=signed.key_id.to_bytes(3, "big"),
            eSkeyVal=signed.key_pair.public,
            eSkeySig=signed.signature,
            buildHash=hashlib.md5(format_version(profile.version).encode(), usedforsecurity=False).digest(),
            deviceProps=device_props(profile),
        )
    )
    return serialize(payload)


def login_payload(creds: Credentials, profile: ClientProfile) -> bytes:
    """The ClientPayload of a linked device resuming its session. Raises CredentialsError if unpaired."""
    me = creds.me
    if me is None or not me.jid.user.isdigit() or me.jid.device is None:
        raise CredentialsError("cannot log in: these credentials are not paired to a phone number device")
    payload = _base_payload(profile)
    payload.passive = True
    payload.pull = True
    payload.username = int(me.jid.user)
    payload.device = me.jid.device
    payload.lidDbMigrated = False
    return serialize(payload)


def device_props(profile: ClientProfile) -> bytes:
    platform = getattr(wa.DeviceProps.PlatformType, profile.browser.upper(), wa.DeviceProps.CHROME)
    primary, secondary, tertiary = COMPANION_VERSION
    props = wa.DeviceProps(
        os=profile.device_name,
        version=wa.DeviceProps.AppVersion(primary=primary, secondary=secondary, tertiary=tertiary),
        platformType=platform,
        requireFullSync=profile.require_full_sync,
        historySyncConfig=wa.DeviceProps.HistorySyncConfig(
            storageQuotaMb=STORAGE_QUOTA_MB,
            inlineInitialPayloadInE2EeMsg=True,
            supportCallLogHistory=False,
            supportBotUserAgentChatHistory=True,
            supportCagReactionsAndPolls=True,
            supportBizHostedMsg=True,
            supportRecentSyncChunkMessageCountTuning=True,
            supportHostedGroupMsg=True,
            supportFbidBotChatHistory=True,
            supportMessageAssociation=True,
            supportGroupHistory=False,
        ),
    )
    return serialize(props)


def _base_payload(profile: ClientProfile) -> wa.ClientPayload:
    primary, secondary, tertiary = profile.version
    user_agent = wa.ClientPayload.UserAgent(
        platform=wa.ClientPayload.UserAgent.WEB,
        appVersion=wa.ClientPayload.UserAgent.AppVersion(
            primary=primary, secondary=secondary, tertiary=tertiary
        ),
        mcc="000",
        mnc="000",
        osVersion="0.1",
        device="Desktop",
        osBuildNumber="0.1",
        releaseChannel=wa.ClientPayload.UserAgent.RELEASE,
        localeLanguageIso6391=profile.language,
        localeCountryIso31661Alpha2=profile.country,
    )
    sub_platform = "WEB_BROWSER"
    if profile.require_full_sync and profile.browser == "Desktop":
        sub_platform = _DESKTOP_SUB_PLATFORMS.get(profile.device_name, sub_platform)
    return wa.ClientPayload(
        userAgent=user_agent,
        webInfo=wa.ClientPayload.WebInfo(webSubPlatform=sub_platform),
        connectType=wa.ClientPayload.WIFI_UNKNOWN,
        connectReason=wa.ClientPayload.USER_ACTIVATED,
    )
