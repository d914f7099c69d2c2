// Curve25519 signatures by Baileys (lib/Utils/crypto `Curve`, i.e. libsignal's curve.js), for our XEdDSA.
// stdin:  {"sign": [{"private": hex, "message": hex}], "verify": [{"public": hex, "message": hex, "signature": hex}]}
// stdout: {"signed":   [{"public": hex, "signature": hex}],            public: libsignal's, 0x05 stripped
//          "verified": [{"libsignal": bool, "baileys": bool}]}
//
// "libsignal" is the verdict of libsignal's verifySignature, the check Baileys runs. "baileys" is what
// Baileys' own Curve.verify wrapper returns: in 7.0.0-rc13 it ignores that verdict and only reports
// exceptions, so it says true for any well-formed signature (the test pins this down as a canary).
import * as libsignalCurve from 'libsignal/src/curve.js'
import { Curve } from '@whiskeysockets/baileys/lib/Utils/crypto.js'

const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const input = JSON.parse(Buffer.concat(chunks).toString('utf8'))
const hex = (text) => Buffer.from(text, 'hex')

const signed = input.sign.map(({ private: privateHex, message }) => {
	const privateKey = hex(privateHex)
	const publicKey = libsignalCurve.getPublicFromPrivateKey(privateKey).subarray(1)
	const signature = Buffer.from(Curve.sign(privateKey, hex(message)))
	return { public: publicKey.toString('hex'), signature: signature.toString('hex') }
})

const verified = input.verify.map(({ public: publicHex, message, signature }) => {
	const publicKey = Buffer.concat([Buffer.from([5]), hex(publicHex)])
	let libsignal
	try {
		libsignal = libsignalCurve.verifySignature(publicKey, hex(message), hex(signature)) === true
	} catch {
		libsignal = false
	}
	return { libsignal, baileys: Curve.verify(hex(publicHex), hex(message), hex(signature)) }
})

process.stdout.write(JSON.stringify({ signed, verified }))
