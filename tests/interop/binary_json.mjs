// Binary nodes <-> JSON for the Python side, and stdin reading; shared by the binary_* scripts.
// JSON node: {tag, attrs: {key: text}, content: null | {bytes: hex} | {text: string} | [node, ...]}

export const toJson = (node) => ({
	tag: node.tag,
	attrs: { ...(node.attrs || {}) },
	content: contentToJson(node.content)
})

const contentToJson = (content) => {
	if (content === undefined || content === null) return null
	if (Array.isArray(content)) return content.map(toJson)
	if (typeof content === 'string') return { text: content }
	if (content instanceof Uint8Array) return { bytes: Buffer.from(content).toString('hex') }
	throw new Error(`unexpected content ${typeof content}`)
}

export const fromJson = (obj) => {
	const node = { tag: obj.tag, attrs: { ...obj.attrs } }
	// Baileys counts a content slot whenever the key is not undefined, so leave it out for "none".
	if (obj.content !== null) {
		if (Array.isArray(obj.content)) node.content = obj.content.map(fromJson)
		else if ('text' in obj.content) node.content = obj.content.text
		else node.content = Buffer.from(obj.content.bytes, 'hex')
	}
	return node
}

export const readStdinJson = async () => {
	const chunks = []
	for await (const chunk of process.stdin) chunks.push(chunk)
	return JSON.parse(Buffer.concat(chunks).toString('utf-8'))
}
