"""What every admin page of the app shares: its stylesheet, the permission
check the custom actions use, bad query strings answered as Django answers a
bad filter value, and the base for rows changed only through gradebook."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import ValidationError
from django.db import DataError
from django.utils.translation import gettext as _

from ..limits import parse_id
from .paginators import EstimatedCountPaginator


class AdminMedia:
    css = {"all": ["timeback_progress/admin.css"]}


def app_perm(request, codename):
    """Whether the user holds ``timeback_progress.<codename>``."""
    return request.user.has_perm(f"timeback_progress.{codename}")


def is_pk_of(model, value):
    """Whether ``value`` (from a form or URL) can be a primary key of ``model`` in the database."""
    try:
        python = model._meta.pk.to_python(value)
    except ValidationError:
        return False
    if isinstance(python, int):
        return parse_id(value) is not None
    return "\x00" not in str(python)


class SafeAutocompleteSelect(AutocompleteSelect):
    """Django's autocomplete widget, re-rendering a refused value without querying it.

    An add or change form posted with ``course=abc`` is invalid, and Django
    renders it again: the stock widget then looks ``abc`` up (``pk__in``) and
    the page is a 500 instead of the field error.
    """

    def optgroups(self, name, value, attr=None):
        model = self.field.remote_field.model
        return super().optgroups(name, [v for v in value if v in (None, "") or is_pk_of(model, v)], attr)


class SafeQueryMixin:
    """A bad query string or form value is a 4xx or Django's own refusal, never a 500.

    Django answers a bad value of a declared list filter with
    ``IncorrectLookupParameters`` (the redirect), but a few values still raise
    past it: an integer out of range in an ``__in`` lookup or a date-hierarchy
    year (``OverflowError``; ``created_at__year=9999`` a ``ValueError``), a NUL
    in a search or filter on PostgreSQL (``ValueError``, the driver refuses
    it) or a value the database refuses (``DataError``). An empty
    ``_to_field`` makes Django look up a field named "" on change and delete
    pages; it means the primary key. Django filters the changelist by the
    posted selection of an action as given (``_selected_action=abc``: a
    ``ValueError``); a selection that names no possible row selects nothing.
    """

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if "widget" not in kwargs and db_field.name in self.get_autocomplete_fields(request):
            kwargs["widget"] = SafeAutocompleteSelect(db_field, self.admin_site, using=kwargs.get("using"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def response_action(self, request, queryset, **kwargs):  # Django 6 adds ``action_location``
        selected = request.POST.getlist(helpers.ACTION_CHECKBOX_NAME)
        if not all(is_pk_of(self.model, value) for value in selected):
            self.message_user(request, _("The selection names rows that do not exist. Nothing was changed."),
                              messages.WARNING)
            return None  # Django redirects back to the changelist
        return super().response_action(request, queryset, **kwargs)

    def get_changelist_instance(self, request):
        try:
            return super().get_changelist_instance(request)
        except (OverflowError, ValueError, DataError) as error:
            raise IncorrectLookupParameters(error) from error

    def get_search_results(self, request, queryset, search_term):
        if "\x00" in search_term:
            return queryset.none(), False  # nothing stored holds a NUL (PostgreSQL cannot store one)
        return super().get_search_results(request, queryset, search_term)

    def get_object(self, request, object_id, from_field=None):
        return super().get_object(request, object_id, from_field or None)


class PageRowsChangeList(ChangeList):
    """A changelist that hands its page's rows to ``model_admin.page_rows`` once they are chosen.

    Figures shown per row (a student's progress summed over courses) are then
    read for the page's rows only, in one query, instead of a subquery per row
    of the whole table (which PostgreSQL also runs for the rows an ``OFFSET``
    skips: a deep page paid for every row before it).
    """

    def get_results(self, request):
        super().get_results(request)
        self.result_list = self.model_admin.page_rows(request, self.result_list)


class AppModelAdmin(SafeQueryMixin, admin.ModelAdmin):
    """The base of the app's model admins: lists that hold at district scale (docs/admin.md).

    No second, unfiltered count of the whole table on every page
    (``show_full_result_count``), and on PostgreSQL the planner's estimate
    instead of an exact ``COUNT(*)`` of a large list (``EstimatedCountPaginator``).
    """

    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_changelist(self, request, **kwargs):
        return PageRowsChangeList

    def page_rows(self, request, rows):
        """The page's rows as shown (``rows``, a sliced queryset, unchanged unless a list adds figures)."""
        return rows


class ReadOnlyAdmin(AppModelAdmin):
    """Visible with the view permission; never added, edited or deleted here."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
