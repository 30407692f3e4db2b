"""The panel's "Promo codes": the latest codes with their usage, disable, enable, delete."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery

from edge.admin_keyboards import promo_section_keyboard
from edge.callbacks import AdminMenu, AdminPromo, PromoAct, Section
from edge.long_messages import show_screen
from edge.views import promo_lines, promo_total
from services.catalog import Catalog
from services.chat.formatting import fit_screen
from services.money.promo import PromoService
from texts import Raw, Texts

router = Router(name=__name__)

SHOWN_IN_SECTION = 15


async def _show_section(
    query: CallbackQuery, bot: Bot, texts: Texts, promo: PromoService, catalog: Catalog
) -> None:
    every = promo.codes()
    codes = every[-SHOWN_IN_SECTION:]
    older = len(every) - len(codes)
    total = promo_total(every, texts, promo)

    def render(shown: Sequence[str], left_out: int) -> str:
        lines = [texts("admin_promo_older", count=older)] if older else []
        lines += [*shown, *([texts("admin_list_below", count=left_out)] if left_out else [])]
        items = Raw("\n".join(lines) or texts("admin_promo_empty"))
        return texts("admin_promo_section", items=items, total=total)

    screen = fit_screen(render, promo_lines(codes, texts, catalog, promo))
    await show_screen(query, bot, screen, promo_section_keyboard(codes, texts))


@router.callback_query(AdminMenu.filter(F.section == Section.PROMO))
async def promo_section(
    query: CallbackQuery, bot: Bot, texts: Texts, promo: PromoService, catalog: Catalog
) -> None:
    """The panel's "Promo codes": the latest codes with their buttons."""
    await query.answer()
    await _show_section(query, bot, texts, promo, catalog)


@router.callback_query(AdminPromo.filter(F.action.in_({PromoAct.DISABLE, PromoAct.ENABLE})))
async def toggle_code(
    query: CallbackQuery,
    callback_data: AdminPromo,
    bot: Bot,
    texts: Texts,
    promo: PromoService,
    catalog: Catalog,
) -> None:
    """Disable / enable a code."""
    await query.answer()
    await promo.set_disabled(callback_data.code, callback_data.action == PromoAct.DISABLE)
    await _show_section(query, bot, texts, promo, catalog)


@router.callback_query(AdminPromo.filter(F.action == PromoAct.DELETE))
async def delete_code(
    query: CallbackQuery,
    callback_data: AdminPromo,
    bot: Bot,
    texts: Texts,
    promo: PromoService,
    catalog: Catalog,
) -> None:
    """Delete a code."""
    await query.answer()
    await promo.delete(callback_data.code)
    await _show_section(query, bot, texts, promo, catalog)
