"""A tenant's own template rows (keys and access patterns: store/keys.py). Built-in templates are code
(services/templates.py) and never stored. Names and languages hold no '#', so one name's prefix finds
exactly that name's languages. Every replace names the version it read."""

from __future__ import annotations

from wagate.conditions import Attr, SortKey, item_absent, item_exists
from wagate.domain.templates import Template, Variable, check
from wagate.ports import Item, Table
from wagate.store import keys


def to_template(item: Item) -> Template:
    variables = [Variable.model_validate(v) for v in item.get("variables", [])]
    used, warnings = check(item["body"], variables)
    return Template(
        name=item["name"],
        language=item["language"],
        body=item["body"],
        description=item.get("description"),
        variables=variables,
        placeholders=used,
        warnings=warnings,
        created_at=item["created_at"],
        updated_at=item["updated_at"],
        version=item["version"],
    )


def template_item(tenant_id: str, template: Template) -> Item:
    pk, sk = keys.template(tenant_id, template.name, template.language)
    stored = template.model_dump(
        mode="json", exclude={"placeholders", "warnings", "builtin"}, exclude_none=True
    )
    return {"pk": pk, "sk": sk, "tenant_id": tenant_id, **stored}


class TemplateRepository:
    def __init__(self, table: Table) -> None:
        self.table = table

    def find(self, tenant_id: str, name: str, language: str) -> Template | None:
        item = self.table.get(*keys.template(tenant_id, name, language))
        return to_template(item) if item is not None else None

    def languages_of(self, tenant_id: str, name: str) -> list[Template]:
        """The tenant's own templates of one name, one per language."""
        page = self.table.query(
            keys.tenant_partition(tenant_id), sk=SortKey.prefix(keys.template_prefix(name))
        )
        return [to_template(item) for item in page.items]

    def all(self, tenant_id: str) -> list[Template]:
        found: list[Template] = []
        cursor: str | None = None
        while True:
            page = self.table.query(
                keys.tenant_partition(tenant_id), sk=SortKey.prefix(keys.TEMPLATE_PREFIX), cursor=cursor
            )
            found.extend(to_template(item) for item in page.items)
            cursor = page.cursor
            if cursor is None:
                return found

    def create(self, tenant_id: str, template: Template) -> None:
        """Raises ConflictError when the name and language are taken."""
        self.table.put(template_item(tenant_id, template), condition=item_absent())

    def replace(self, tenant_id: str, template: Template, *, read_version: int) -> None:
        """Raises ConflictError when the stored version is no longer `read_version` (or it is gone)."""
        self.table.put(template_item(tenant_id, template), condition=Attr("version").eq(read_version))

    def delete(self, tenant_id: str, name: str, language: str) -> None:
        """Raises ConflictError when it is already gone."""
        self.table.delete(*keys.template(tenant_id, name, language), condition=item_exists())
